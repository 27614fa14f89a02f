-- Tables the master file puts under row-level security, and whether it is enabled.
SELECT e.table_name, coalesce(c.relrowsecurity, false) AS rls_enabled, c.oid IS NOT NULL AS table_exists
FROM unnest(%(tables)s::text[]) AS e(table_name)
LEFT JOIN pg_class c ON c.relname = e.table_name AND c.relnamespace = to_regnamespace(%(schema)s)
