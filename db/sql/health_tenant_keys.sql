-- Foreign keys between two tenant-owned tables (both have tenant_id) that do not pair the child's
-- tenant_id with the parent's: such a key lets a row point at another tenant's parent. Keys to
-- tenants itself (which has no tenant_id) are the tenant reference and are not listed.
SELECT c.relname::text AS table_name,
       k.conname::text AS constraint_name,
       r.relname::text AS ref_table,
       (SELECT string_agg(a.attname::text, ', ' ORDER BY x.ord)
        FROM unnest(k.conkey) WITH ORDINALITY AS x(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.attnum) AS columns
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_class r ON r.oid = k.confrelid
JOIN pg_attribute ct ON ct.attrelid = c.oid AND ct.attname = 'tenant_id' AND NOT ct.attisdropped
JOIN pg_attribute rt ON rt.attrelid = r.oid AND rt.attname = 'tenant_id' AND NOT rt.attisdropped
WHERE k.contype = 'f'
  AND c.relnamespace = to_regnamespace(%(schema)s)
  AND r.relnamespace = to_regnamespace(%(schema)s)
  AND NOT EXISTS (SELECT 1 FROM unnest(k.conkey, k.confkey) AS p(child_col, parent_col)
                  WHERE p.child_col = ct.attnum AND p.parent_col = rt.attnum)
ORDER BY 1, 2
