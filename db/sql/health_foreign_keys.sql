-- Expected foreign keys matched by content (table, columns in order, referenced table), not by name:
-- inline REFERENCES get generated names. Plus every NOT VALID foreign key in the schema.
-- Ordered as the master file lists them, then the others by name: a report must read the same every run.
WITH expected AS (
    SELECT *
    FROM unnest(%(tables)s::text[], %(columns)s::text[], %(ref_tables)s::text[]) WITH ORDINALITY
         AS e(table_name, columns, ref_table, ord)
),
actual AS (
    SELECT k.conname::text AS name,
           k.convalidated,
           c.relname::text AS table_name,
           r.relname::text AS ref_table,
           (SELECT string_agg(a.attname::text, ',' ORDER BY x.ord)
            FROM unnest(k.conkey) WITH ORDINALITY AS x(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.attnum) AS columns
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_class r ON r.oid = k.confrelid
    WHERE k.contype = 'f' AND c.relnamespace = to_regnamespace(%(schema)s)
)
SELECT table_name, columns, ref_table, name, validated, is_expected
FROM (
SELECT e.table_name, e.columns, e.ref_table, a.name, coalesce(a.convalidated, false) AS validated,
       true AS is_expected, e.ord
FROM expected e
LEFT JOIN actual a USING (table_name, columns, ref_table)
UNION ALL
SELECT a.table_name, a.columns, a.ref_table, a.name, false, false, NULL
FROM actual a
WHERE NOT a.convalidated
  AND NOT EXISTS (SELECT 1 FROM expected e
                  WHERE (e.table_name, e.columns, e.ref_table) = (a.table_name, a.columns, a.ref_table))
) AS found
ORDER BY ord NULLS LAST, table_name, name
