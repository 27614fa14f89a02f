"""The catalog queries behind `snapshot_catalog`: one query per kind, never one per object.

Every query takes `%(schemas)s` (text[]) and skips objects that belong to an extension (pg_depend
deptype 'e'), so TimescaleDB's own functions and tables never show up as drift. Names are built from
schema and object names only (no OIDs), so two databases built from the same file compare equal.
"""

from __future__ import annotations

# For the rest of the transaction: catalog reads are short, but with thousands of chunks in pg_class
# their estimated cost crosses jit_above_cost, and compiling them took seconds (more than running
# them: 0.06 s against 2.4-4.5 s for health's isolation query at 3,000 chunks on a busy machine).
NO_JIT_SQL = "SELECT set_config('jit', 'off', true)"

# Shared predicate: the object (classid, oid) is not a member of an extension.
_NOT_EXTENSION_MEMBER = """NOT EXISTS (SELECT 1 FROM pg_depend dep
                   WHERE dep.classid = '{catalog}'::regclass AND dep.objid = {oid} AND dep.deptype = 'e')"""

SCHEMAS_SQL = f"""
SELECT n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner, n.nspacl::text[] AS acl
FROM pg_namespace n
WHERE n.nspname = ANY(%(schemas)s)
  AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_namespace", oid="n.oid")}
ORDER BY 1
"""

# Tables, views, materialized views, sequences and foreign tables in one pass. Identity sequences
# (pg_depend deptype 'i') are reported through their column, not as sequences of their own.
RELATIONS_SQL = f"""
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS relkind,
       c.relpersistence AS persistence, pg_get_userbyid(c.relowner) AS owner,
       c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
       c.reloptions AS options, c.relacl::text[] AS acl, c.relreplident AS replica_identity,
       (SELECT ri.relname FROM pg_index x JOIN pg_class ri ON ri.oid = x.indexrelid
         WHERE x.indrelid = c.oid AND x.indisreplident) AS replica_index,
       (SELECT array_agg(pn.nspname || '.' || pc.relname ORDER BY i.inhseqno)
          FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
          JOIN pg_namespace pn ON pn.oid = pc.relnamespace
         WHERE i.inhrelid = c.oid) AS inherits,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS definition,
       format_type(s.seqtypid, NULL) AS seq_type, s.seqincrement AS seq_increment,
       s.seqmin AS seq_min, s.seqmax AS seq_max, s.seqcycle AS seq_cycle, s.seqcache AS seq_cache,
       s.seqstart AS seq_start,
       (SELECT on_.nspname || '.' || oc.relname || '.' || oa.attname
          FROM pg_depend od
          JOIN pg_class oc ON oc.oid = od.refobjid
          JOIN pg_namespace on_ ON on_.oid = oc.relnamespace
          JOIN pg_attribute oa ON oa.attrelid = od.refobjid AND oa.attnum = od.refobjsubid
         WHERE od.classid = 'pg_class'::regclass AND od.objid = c.oid AND od.deptype = 'a'
         LIMIT 1) AS seq_owned_by
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
WHERE n.nspname = ANY(%(schemas)s)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid")}
  AND NOT EXISTS (SELECT 1 FROM pg_depend idep
                   WHERE idep.classid = 'pg_class'::regclass AND idep.objid = c.oid AND idep.deptype = 'i'
                     AND idep.objsubid = 0)
ORDER BY 1, 2
"""

COLUMNS_SQL = f"""
SELECT n.nspname AS schema, c.relname AS relation, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       NULLIF(a.attidentity, '') AS identity, NULLIF(a.attgenerated, '') AS generated,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation,
       a.attacl::text[] AS acl, a.attislocal AS local,
       ids.seqincrement AS id_increment, ids.seqmin AS id_min, ids.seqmax AS id_max,
       ids.seqstart AS id_start, ids.seqcache AS id_cache, ids.seqcycle AS id_cycle,
       ids.seqrelid::regclass::text AS id_sequence,
       -- PostgreSQL 18 keeps NOT NULL as a constraint (contype 'n') with a name and flags; only what
       -- differs from a plain NOT NULL is compared (NULL before 18, where no such row exists). An
       -- inherited one's name is its parent's choice (a partition's is the partitioned table's).
       NULLIF(concat_ws(' ',
                  CASE WHEN nn.conislocal
                        AND nn.conname <> left(c.relname || '_' || a.attname || '_not_null', 63)
                       THEN 'CONSTRAINT ' || quote_ident(nn.conname) END,
                  CASE WHEN NOT nn.convalidated THEN 'NOT VALID' END,
                  CASE WHEN nn.connoinherit THEN 'NO INHERIT' END), '') AS not_null_constraint,
       nn.conname AS not_null_name
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
-- An identity column's sequence (pg_depend deptype 'i'): its options are the column's.
LEFT JOIN pg_depend idd ON a.attidentity <> '' AND idd.classid = 'pg_class'::regclass
      AND idd.refclassid = 'pg_class'::regclass AND idd.refobjid = a.attrelid
      AND idd.refobjsubid = a.attnum AND idd.deptype = 'i'
LEFT JOIN pg_sequence ids ON ids.seqrelid = idd.objid
LEFT JOIN pg_constraint nn ON nn.contype = 'n' AND nn.conrelid = a.attrelid AND nn.conkey = ARRAY[a.attnum]
WHERE n.nspname = ANY(%(schemas)s)
  AND c.relkind IN ('r', 'p', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid")}
ORDER BY 1, 2, a.attnum
"""

CONSTRAINTS_SQL = f"""
SELECT n.nspname AS schema, c.relname AS relation, con.conname AS name, con.contype AS type,
       pg_get_constraintdef(con.oid, true) AS definition, con.convalidated AS validated,
       con.condeferrable AS deferrable, con.condeferred AS deferred, con.conislocal AS local
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND con.contype IN ('p', 'u', 'f', 'c', 'x')
  AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid")}
ORDER BY 1, 2, 3
"""

# Indexes that back a PRIMARY KEY / UNIQUE / EXCLUDE constraint are described by that constraint.
INDEXES_SQL = f"""
SELECT n.nspname AS schema, ic.relname AS name, tc.relname AS relation,
       pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid, i.indisunique AS is_unique,
       EXISTS (SELECT 1 FROM pg_inherits ih WHERE ih.inhrelid = i.indexrelid) AS attached,
       (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits ih JOIN pg_class pc ON pc.oid = ih.inhparent
          JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE ih.inhrelid = i.indexrelid) AS attached_to
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="tc.oid")}
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                   WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                     AND k.contype IN ('p', 'u', 'x'))
ORDER BY 1, 2
"""

FUNCTIONS_SQL = f"""
SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS arguments,
       p.prokind AS kind, pg_get_userbyid(p.proowner) AS owner, p.proacl::text[] AS acl,
       pg_get_function_result(p.oid) AS returns,
       CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid)
            WHEN p.prokind = 'a' THEN (
                -- pg_get_functiondef has no text for an aggregate: its parts, as CREATE AGGREGATE takes them
                SELECT format('CREATE OR REPLACE AGGREGATE %%s(%%s) (SFUNC = %%s, STYPE = %%s%%s%%s%%s%%s)',
                              p.oid::regproc, pg_get_function_identity_arguments(p.oid),
                              ag.aggtransfn::regproc, format_type(ag.aggtranstype, NULL),
                              ', FINALFUNC = ' || nullif(ag.aggfinalfn, 0)::regproc,
                              ', COMBINEFUNC = ' || nullif(ag.aggcombinefn, 0)::regproc,
                              ', INITCOND = ' || quote_literal(ag.agginitval),
                              CASE p.proparallel WHEN 's' THEN ', PARALLEL = SAFE'
                                                 WHEN 'r' THEN ', PARALLEL = RESTRICTED' END)
                FROM pg_aggregate ag WHERE ag.aggfnoid = p.oid AND ag.aggkind = 'n')
       END AS definition
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_proc", oid="p.oid")}
ORDER BY 1, 2, 3
"""

# Triggers TimescaleDB adds itself (ts_insert_blocker, cagg invalidation) call its internal functions.
TRIGGERS_SQL = """
SELECT n.nspname AS schema, c.relname AS relation, t.tgname AS name,
       pg_get_triggerdef(t.oid, true) AS definition, t.tgenabled AS enabled
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND NOT t.tgisinternal
  AND pn.nspname NOT LIKE '\\_timescaledb%%'
  -- a batched backfill's own trigger while it runs (db/versions/backfill_trigger.py): not the schema's
  AND NOT (t.tgname LIKE 'schemaflow\\_backfill\\_%%' AND pn.nspname = 'schemaflow')
ORDER BY 1, 2, 3
"""

POLICIES_SQL = """
SELECT schemaname AS schema, tablename AS relation, policyname AS name, permissive, roles::text[] AS roles,
       cmd, qual, with_check
FROM pg_policies
WHERE schemaname = ANY(%(schemas)s)
ORDER BY 1, 2, 3
"""

EXTENSIONS_SQL = """
SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY 1
"""

# Enums, domains and composite types of their own (CREATE TYPE ... AS (...)); the row types of
# tables are covered by the tables themselves.
TYPES_SQL = f"""
SELECT n.nspname AS schema, t.typname AS name, t.typtype AS type, pg_get_userbyid(t.typowner) AS owner,
       t.typacl::text[] AS acl, t.typdefault AS default_expr,
       (SELECT array_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                         ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
         AS attributes,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
       (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
         AS labels,
       (SELECT array_agg(pg_get_constraintdef(k.oid, true) ORDER BY k.conname)
          FROM pg_constraint k WHERE k.contypid = t.oid) AS checks,
       (SELECT array_agg(k.conname ORDER BY k.conname)
          FROM pg_constraint k WHERE k.contypid = t.oid) AS check_names,
       t.typnotnull AS not_null
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = ANY(%(schemas)s)
  AND (t.typtype IN ('e', 'd')
       OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
  AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_type", oid="t.oid")}
ORDER BY 1, 2
"""

# TimescaleDB: asked only when the extension is installed and its information views exist.
TIMESCALEDB_PRESENT_SQL = """
SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL
   AND EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS present
"""

HYPERTABLES_SQL = """
SELECT hypertable_schema AS schema, hypertable_name AS name, num_dimensions, compression_enabled
FROM timescaledb_information.hypertables
WHERE hypertable_schema = ANY(%(schemas)s)
ORDER BY 1, 2
"""

DIMENSIONS_SQL = """
SELECT hypertable_schema AS schema, hypertable_name AS relation, column_name AS name,
       dimension_number, dimension_type, column_type::text AS column_type,
       time_interval::text AS time_interval, integer_interval, num_partitions,
       integer_now_func::text AS integer_now_func
FROM timescaledb_information.dimensions
WHERE hypertable_schema = ANY(%(schemas)s)
ORDER BY 1, 2, dimension_number
"""

# The user-facing view of a continuous aggregate only selects from `_materialized_hypertable_<id>`;
# the query as written lives in its direct view, so that is the definition compared.
CAGGS_SQL = """
SELECT ca.view_schema AS schema, ca.view_name AS name, ca.materialized_only, ca.compression_enabled,
       pg_get_viewdef(format('%%I.%%I', cat.direct_view_schema, cat.direct_view_name)::regclass, true)
         AS definition,
       ca.materialization_hypertable_schema AS mat_schema, ca.materialization_hypertable_name AS mat_name
FROM timescaledb_information.continuous_aggregates ca
JOIN _timescaledb_catalog.continuous_agg cat
  ON cat.user_view_schema = ca.view_schema AND cat.user_view_name = ca.view_name
WHERE ca.view_schema = ANY(%(schemas)s)
ORDER BY 1, 2
"""

CAGG_CATALOG_READABLE_SQL = """
SELECT has_table_privilege('_timescaledb_catalog.continuous_agg', 'SELECT') AS readable
"""

# The same from the information view alone, for a role that may not read TimescaleDB's catalog.
CAGGS_INFORMATION_SQL = """
SELECT ca.view_schema AS schema, ca.view_name AS name, ca.materialized_only, ca.compression_enabled,
       ca.view_definition AS definition,
       ca.materialization_hypertable_schema AS mat_schema, ca.materialization_hypertable_name AS mat_name
FROM timescaledb_information.continuous_aggregates ca
WHERE ca.view_schema = ANY(%(schemas)s)
ORDER BY 1, 2
"""

# Indexes on a continuous aggregate live on its materialization hypertable in an internal schema.
CAGG_INDEXES_SQL = """
SELECT ca.view_schema AS schema, ca.view_name AS cagg, ic.relname AS name,
       pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid,
       ca.materialization_hypertable_schema AS mat_schema, ca.materialization_hypertable_name AS mat_name
FROM timescaledb_information.continuous_aggregates ca
JOIN pg_namespace n ON n.nspname = ca.materialization_hypertable_schema
JOIN pg_class tc ON tc.relnamespace = n.oid AND tc.relname = ca.materialization_hypertable_name
JOIN pg_index i ON i.indrelid = tc.oid
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE ca.view_schema = ANY(%(schemas)s)
ORDER BY 1, 2, 3
"""

# Background jobs attached to user objects (refresh, compression, retention policies); the built-in
# telemetry and history-retention jobs have no hypertable and are skipped.
JOBS_SQL = """
SELECT j.proc_schema, j.proc_name, j.schedule_interval::text AS schedule_interval, j.scheduled,
       j.config::text AS config, j.hypertable_schema, j.hypertable_name
FROM timescaledb_information.jobs j
WHERE j.hypertable_name IS NOT NULL
ORDER BY j.hypertable_schema, j.hypertable_name, j.proc_name
"""

# Every schema a snapshot covers when none are named: the user's, not PostgreSQL's, not an extension's
# (TimescaleDB's internal and information schemas), and never schemaflow's own bookkeeping schema.
ALL_SCHEMAS_SQL = f"""
SELECT n.nspname AS name
FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'schemaflow',
                        'timescaledb_information', 'timescaledb_experimental')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
  AND n.nspname NOT LIKE '\\_timescaledb%%'
  AND NOT n.nspname = ANY(%(exclude)s)
  AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_namespace", oid="n.oid")}
ORDER BY 1
"""

# Per hypertable, what some chunk grants beyond what a new chunk gets (the hypertable's table-level
# ACL, which TimescaleDB copies) and beyond its owner: table and column privileges, as
# db/plan/chunk_privileges.py spells them. Chunks are found through pg_inherits, which every role may
# read; one pass over the chunks' ACLs, so the cost is a scan of pg_class/pg_attribute rows of chunks.
CHUNK_GRANTS_SQL = """
WITH ht AS (
    SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relacl
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN timescaledb_information.hypertables h
      ON h.hypertable_schema = n.nspname AND h.hypertable_name = c.relname
    WHERE n.nspname = ANY(%(schemas)s)
), held AS (
    SELECT ht.schema, ht.name, ht.relacl, a.grantee, a.privilege_type, NULL::name AS column_name
    FROM ht JOIN pg_inherits i ON i.inhparent = ht.oid
    JOIN pg_class ch ON ch.oid = i.inhrelid
    CROSS JOIN LATERAL aclexplode(ch.relacl) a
    WHERE a.grantee <> ch.relowner
    UNION
    SELECT ht.schema, ht.name, ht.relacl, a.grantee, a.privilege_type, att.attname
    FROM ht JOIN pg_inherits i ON i.inhparent = ht.oid
    JOIN pg_class ch ON ch.oid = i.inhrelid
    JOIN pg_attribute att ON att.attrelid = ch.oid AND att.attnum > 0 AND att.attacl IS NOT NULL
    CROSS JOIN LATERAL aclexplode(att.attacl) a
    WHERE a.grantee <> ch.relowner
)
SELECT h.schema, h.name,
       array_agg(DISTINCT CASE WHEN h.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(h.grantee) END
                 || ' ' || h.privilege_type || coalesce(' (' || h.column_name || ')', '')) AS grants
FROM held h
WHERE h.column_name IS NOT NULL
   OR NOT EXISTS (SELECT 1 FROM aclexplode(h.relacl) t
                   WHERE t.grantee = h.grantee AND t.privilege_type = h.privilege_type)
GROUP BY 1, 2
ORDER BY 1, 2
"""

# Publications stream rows out of the database (logical replication): which tables, which changes.
PUBLICATIONS_SQL = """
SELECT p.pubname AS name, p.puballtables AS all_tables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate,
       pg_get_userbyid(p.pubowner) AS owner,
       ARRAY(SELECT t.schemaname || '.' || t.tablename FROM pg_publication_tables t
              WHERE t.pubname = p.pubname AND NOT p.puballtables ORDER BY 1) AS tables
FROM pg_publication p
ORDER BY 1
"""
