-- Expected index names, whether each exists and is valid, plus any other INVALID index in the schema
-- (a failed CREATE INDEX CONCURRENTLY leaves one behind, and IF NOT EXISTS then skips it forever).
-- Ordered as the master file lists them, then the others by name: a report must read the same every run.
SELECT name, index_exists, is_valid, expected
FROM (
SELECT e.name,
       i.indexrelid IS NOT NULL AS index_exists,
       coalesce(i.indisvalid, false) AS is_valid,
       true AS expected,
       e.ord
FROM unnest(%(names)s::text[]) WITH ORDINALITY AS e(name, ord)
-- A continuous aggregate's indexes live on its materialization hypertable in _timescaledb_internal.
LEFT JOIN pg_class ic
       ON ic.relname = e.name
      AND ic.relnamespace IN (to_regnamespace(%(schema)s), to_regnamespace('_timescaledb_internal'))
      AND ic.relkind IN ('i', 'I')
LEFT JOIN pg_index i ON i.indexrelid = ic.oid
UNION ALL
SELECT ic.relname::text, true, false, false, NULL
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE ic.relnamespace = to_regnamespace(%(schema)s)
  AND NOT i.indisvalid
  AND ic.relname <> ALL (%(names)s::text[])
) AS found
ORDER BY ord NULLS LAST, name
