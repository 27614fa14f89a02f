-- Expected columns (from the master file) against pg_attribute: table present, column present,
-- type (compared as regtype, so 'int4' equals 'integer') and NOT NULL.
WITH expected AS (
    SELECT *
    FROM unnest(%(tables)s::text[], %(columns)s::text[], %(types)s::text[], %(not_null)s::bool[])
         WITH ORDINALITY AS e(table_name, column_name, type_name, not_null, ord)
)
SELECT e.table_name,
       e.column_name,
       e.type_name,
       e.not_null,
       c.oid IS NOT NULL AS table_exists,
       a.attnum IS NOT NULL AS column_exists,
       format_type(a.atttypid, a.atttypmod) AS actual_type,
       coalesce(a.atttypid = to_regtype(e.type_name), true) AS type_matches,
       coalesce(a.attnotnull, false) AS actual_not_null
FROM expected e
LEFT JOIN pg_class c
       ON c.relname = e.table_name
      AND c.relnamespace = to_regnamespace(%(schema)s)
      AND c.relkind IN ('r', 'p', 'v', 'm')
LEFT JOIN pg_attribute a
       ON a.attrelid = c.oid AND a.attname = e.column_name AND a.attnum > 0 AND NOT a.attisdropped
-- In the master file's order: a report must read the same every run.
ORDER BY e.ord
