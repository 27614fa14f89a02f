-- Tables the master file gives a primary key that have none (or whose key index is invalid).
SELECT e.table_name
FROM unnest(%(tables)s::text[]) WITH ORDINALITY AS e(table_name, ord)
JOIN pg_class c ON c.relname = e.table_name AND c.relnamespace = to_regnamespace(%(schema)s)
WHERE NOT EXISTS (
    SELECT 1 FROM pg_constraint k JOIN pg_index i ON i.indexrelid = k.conindid
    WHERE k.conrelid = c.oid AND k.contype = 'p' AND i.indisvalid
)
-- In the master file's order: a report must read the same every run.
ORDER BY e.ord
