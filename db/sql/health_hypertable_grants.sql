-- Table-level privileges of PUBLIC or the application role on the event tables. TimescaleDB copies
-- a hypertable's table-level ACL onto each chunk it creates (column grants are not copied), so any
-- row here opens every future chunk; the master file grants those tables by column only.
SELECT e.table_name,
       string_agg(DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee)::text END, ', ')
           AS grantees,
       string_agg(DISTINCT x.privilege_type, ', ') AS privileges
FROM unnest(%(tables)s::text[]) AS e(table_name)
JOIN pg_class c ON c.relname = e.table_name AND c.relnamespace = to_regnamespace(%(schema)s)
CROSS JOIN LATERAL aclexplode(c.relacl) AS x
WHERE x.grantee = 0 OR x.grantee = to_regrole(%(app_role)s)
GROUP BY e.table_name
ORDER BY e.table_name
