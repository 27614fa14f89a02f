-- Tables the master file puts under row-level security, and whether it is enabled.
SELECT e.table_name, coalesce(c.relrowsecurity, false) AS rls_enabled, c.oid IS NOT NULL AS table_exists
FROM unnest(%(tables)s::text[]) WITH ORDINALITY AS e(table_name, ord)
LEFT JOIN pg_class c ON c.relname = e.table_name AND c.relnamespace = to_regnamespace(%(schema)s)
-- In the order given (health passes the tables sorted): a report must read the same every run.
ORDER BY e.ord
