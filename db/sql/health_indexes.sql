-- Expected index names, whether each exists and is valid, plus any other INVALID index in the schema
-- (a failed CREATE INDEX CONCURRENTLY leaves one behind, and IF NOT EXISTS then skips it forever).
SELECT e.name,
       i.indexrelid IS NOT NULL AS index_exists,
       coalesce(i.indisvalid, false) AS is_valid,
       true AS expected
FROM unnest(%(names)s::text[]) AS e(name)
-- A continuous aggregate's indexes live on its materialization hypertable in _timescaledb_internal.
LEFT JOIN pg_class ic
       ON ic.relname = e.name
      AND ic.relnamespace IN (to_regnamespace(%(schema)s), to_regnamespace('_timescaledb_internal'))
      AND ic.relkind IN ('i', 'I')
LEFT JOIN pg_index i ON i.indexrelid = ic.oid
UNION ALL
SELECT ic.relname::text, true, false, false
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE ic.relnamespace = to_regnamespace(%(schema)s)
  AND NOT i.indisvalid
  AND ic.relname <> ALL (%(names)s::text[])
