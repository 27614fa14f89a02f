-- The INVALID ones of the indexes named: quoted qualified name, table, and whether the table is a
-- hypertable (TimescaleDB refuses REINDEX INDEX there). Run only when TimescaleDB is loaded.
SELECT format('%%I.%%I', n.nspname, ic.relname) AS index_name,
       i.indrelid::regclass::text AS table_name,
       EXISTS (SELECT 1 FROM timescaledb_information.hypertables h
               WHERE format('%%I.%%I', h.hypertable_schema, h.hypertable_name)::regclass = i.indrelid)
           AS on_hypertable
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE ic.relname = ANY (%(names)s::text[])
  AND n.nspname IN (%(schema)s, '_timescaledb_internal')
  AND NOT i.indisvalid
ORDER BY array_position(%(names)s::text[], ic.relname::text)
