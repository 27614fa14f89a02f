-- Relations in TimescaleDB's schemas (chunks, catalog tables, internal views, a continuous
-- aggregate's materialization hypertable and views), and chunks kept elsewhere (children of the
-- schema's hypertables), that the application role or a non-superuser member of it may read or
-- write in any way: through PUBLIC, its own grants or a column grant. Any row is a way around
-- row-level security. public_reads: PUBLIC may read it (TimescaleDB's default for its catalog), so
-- closing it should keep the database owner reading it. metadata: TimescaleDB's own bookkeeping
-- (catalog, config, job stats), not a chunk, hypertable or aggregate view with tenant rows.
-- revocable: the connected role may change its grants (it is, or is a member of, the owner); on a
-- managed service only the provider's superuser may.
WITH app AS (
    SELECT r.oid, r.rolname::text AS rolname
    FROM pg_roles r
    WHERE to_regrole(%(app_role)s) IS NOT NULL
      AND (r.rolname = %(app_role)s OR (NOT r.rolsuper AND pg_has_role(r.oid, to_regrole(%(app_role)s), 'MEMBER')))
),
internal AS (
    SELECT c.oid, format('%%I.%%I', n.nspname, c.relname) AS relation,
           EXISTS (SELECT 1 FROM aclexplode(c.relacl) x WHERE x.grantee = 0 AND x.privilege_type = 'SELECT')
               AS public_reads,
           NOT (EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)
                OR c.relname ~ '^(_hyper_|compress_hyper_|_materialized_hypertable_|_compressed_hypertable_|_partial_view_|_direct_view_)')
               AS metadata,
           pg_has_role(current_user, c.relowner, 'USAGE') AS revocable
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE (n.nspname LIKE '\_timescaledb\_%%'
           OR c.oid IN (SELECT i.inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                        WHERE p.relnamespace = to_regnamespace(%(schema)s)))
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      -- Only a relation someone besides its owner holds a grant on (or a column grant), or whose
      -- owner the app role belongs to, can be reachable: the privilege functions below then run on
      -- those few instead of on every chunk.
      AND (EXISTS (SELECT 1 FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) g
                   WHERE g.grantee <> c.relowner)
           OR EXISTS (SELECT 1 FROM pg_attribute ca WHERE ca.attrelid = c.oid AND ca.attacl IS NOT NULL)
           OR EXISTS (SELECT 1 FROM app WHERE pg_has_role(app.oid, c.relowner, 'MEMBER')))
)
SELECT i.relation,
       string_agg(DISTINCT a.rolname, ', ') AS roles,
       string_agg(DISTINCT p.privilege, ', ') AS privileges,
       bool_or(i.public_reads) AS public_reads,
       bool_and(i.metadata) AS metadata,
       bool_or(i.revocable) AS revocable
FROM internal i
CROSS JOIN app a
CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p(privilege)
WHERE has_table_privilege(a.oid, i.oid, p.privilege)
   OR (p.privilege IN ('SELECT', 'INSERT', 'UPDATE') AND has_any_column_privilege(a.oid, i.oid, p.privilege))
GROUP BY i.relation
ORDER BY i.relation
