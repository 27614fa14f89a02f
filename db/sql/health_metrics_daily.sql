-- What metrics_daily is here: a continuous aggregate (relkind v), the table (r), a materialized view
-- left by an older master file (m), or missing; and whether the unique index the table's upsert
-- (refresh_metrics_daily) needs exists.
SELECT c.relkind::text AS relkind,
       m.ispopulated,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid)
           AS has_unique_index
FROM pg_class c
LEFT JOIN pg_matviews m ON m.schemaname = %(schema)s AND m.matviewname = c.relname
WHERE c.relname = 'metrics_daily' AND c.relnamespace = to_regnamespace(%(schema)s)
