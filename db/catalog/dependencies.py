"""What each snapshot entry depends on, from pg_depend: the edges the planner orders its steps by.

One query maps every object of the covered schemas to the snapshot key the planner uses
("kind:name": a column for a table's sub-object, the view for its _RETURN rule, the column for its
default, the constraint for the index that backs it, the extension for anything an extension owns),
then joins pg_depend on both ends. Each entry gets a not-compared `depends_on` list.
Sequences are not made to depend on the column that owns them (deptype 'a' of OWNED BY): the
column's default depends on the sequence, and OWNED BY is planned as its own step after both exist.
"""

from __future__ import annotations

from typing import Any

DEPENDS_ON = "depends_on"  # attribute: sorted "kind:name" keys this entry needs; not compared

_OBJECTS = """
WITH rels AS (
    SELECT c.oid, c.relkind, n.nspname || '.' || c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(%(schemas)s)
), objs AS (
    SELECT 'pg_class'::regclass AS classid, r.oid AS objid, 0 AS objsubid,
           CASE WHEN r.relkind IN ('r', 'p', 'f') THEN 'table:' || r.name
                WHEN r.relkind = 'v' THEN 'view:' || r.name
                WHEN r.relkind = 'm' THEN 'matview:' || r.name
                WHEN r.relkind = 'S' THEN 'sequence:' || r.name
                -- Through pg_index to the table: pg_constraint has no index on conindid, and a
                -- scan of it per index grows with every chunk's constraints.
                ELSE coalesce((SELECT 'constraint:' || tr.name || '.' || k.conname
                                 FROM pg_index x
                                 JOIN pg_constraint k ON k.conrelid = x.indrelid AND k.conindid = x.indexrelid
                                 JOIN rels tr ON tr.oid = k.conrelid
                                WHERE x.indexrelid = r.oid AND k.contype IN ('p', 'u', 'x')),
                              'index:' || r.name)
           END AS key
    FROM rels r WHERE r.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'i', 'I')
    UNION ALL
    SELECT 'pg_class'::regclass, a.attrelid, a.attnum, 'column:' || r.name || '.' || a.attname
    FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid
    WHERE r.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    -- A view reading another view depends on its columns: that is the other view itself.
    SELECT 'pg_class'::regclass, a.attrelid, a.attnum,
           CASE r.relkind WHEN 'm' THEN 'matview:' ELSE 'view:' END || r.name
    FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid
    WHERE r.relkind IN ('v', 'm') AND a.attnum > 0
    UNION ALL
    -- The column's name by index lookup, not a join the planner hashes over every chunk's columns.
    SELECT 'pg_attrdef'::regclass, d.oid, 0,
           'column:' || r.name || '.' || (SELECT a.attname FROM pg_attribute a
                                          WHERE a.attrelid = d.adrelid AND a.attnum = d.adnum)
    FROM pg_attrdef d JOIN rels r ON r.oid = d.adrelid
    UNION ALL
    SELECT 'pg_rewrite'::regclass, w.oid, 0,
           CASE WHEN w.rulename = '_RETURN'
                THEN CASE r.relkind WHEN 'm' THEN 'matview:' ELSE 'view:' END || r.name
                ELSE 'rule:' || r.name || '.' || w.rulename END
    FROM pg_rewrite w JOIN rels r ON r.oid = w.ev_class
    UNION ALL
    SELECT 'pg_proc'::regclass, p.oid, 0,
           'function:' || n.nspname || '.' || p.proname
           || '(' || pg_get_function_identity_arguments(p.oid) || ')'
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%(schemas)s)
    UNION ALL
    SELECT 'pg_type'::regclass, t.oid, 0, 'type:' || n.nspname || '.' || t.typname
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('e', 'd')
    UNION ALL
    -- A table's row type is the table: a column or a domain over it needs the table first.
    SELECT 'pg_type'::regclass, t.oid, 0, 'table:' || r.name
    FROM pg_type t JOIN rels r ON r.oid = t.typrelid WHERE r.relkind IN ('r', 'p', 'f')
    UNION ALL
    SELECT 'pg_constraint'::regclass, k.oid, 0, 'constraint:' || r.name || '.' || k.conname
    FROM pg_constraint k JOIN rels r ON r.oid = k.conrelid
    UNION ALL
    -- A domain's CHECK is the domain's: what it calls is created before the domain.
    SELECT 'pg_constraint'::regclass, k.oid, 0, 'type:' || n.nspname || '.' || t.typname
    FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid
    JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = ANY(%(schemas)s)
    UNION ALL
    SELECT 'pg_trigger'::regclass, g.oid, 0, 'trigger:' || r.name || '.' || g.tgname
    FROM pg_trigger g JOIN rels r ON r.oid = g.tgrelid WHERE NOT g.tgisinternal
    UNION ALL
    SELECT 'pg_policy'::regclass, o.oid, 0, 'policy:' || r.name || '.' || o.polname
    FROM pg_policy o JOIN rels r ON r.oid = o.polrelid
    UNION ALL
    SELECT 'pg_namespace'::regclass, n.oid, 0, 'schema:' || n.nspname
    FROM pg_namespace n WHERE n.nspname = ANY(%(schemas)s)
    UNION ALL
    SELECT 'pg_extension'::regclass, e.oid, 0, 'extension:' || e.extname FROM pg_extension e
)
"""

DEPENDENCIES_SQL = (
    _OBJECTS
    + """
SELECT DISTINCT d.key AS dependent, coalesce(r.key, 'extension:' || x.extname) AS referenced
FROM pg_depend dep
JOIN objs d ON d.classid = dep.classid AND d.objid = dep.objid AND d.objsubid = dep.objsubid
LEFT JOIN objs r ON r.classid = dep.refclassid AND r.objid = dep.refobjid
     AND r.objsubid = dep.refobjsubid
LEFT JOIN pg_depend xd ON r.key IS NULL AND xd.classid = dep.refclassid AND xd.objid = dep.refobjid
     AND xd.deptype = 'e'
LEFT JOIN pg_extension x ON x.oid = xd.refobjid
WHERE dep.deptype IN ('n', 'a')
  AND (r.key IS NOT NULL OR x.extname IS NOT NULL)
  AND NOT (d.key LIKE 'sequence:%%' AND dep.deptype = 'a')
"""
)

# A continuous aggregate's query lives in its direct view (TimescaleDB's internal schema): what
# that view reads is what the aggregate depends on.
CAGG_DEPENDENCIES_SQL = """
SELECT DISTINCT 'cagg:' || cat.user_view_schema || '.' || cat.user_view_name AS dependent,
       CASE WHEN c.relkind = 'v' THEN 'view:' ELSE 'table:' END || n.nspname || '.' || c.relname AS referenced
FROM _timescaledb_catalog.continuous_agg cat
JOIN pg_class dv ON dv.relname = cat.direct_view_name
JOIN pg_namespace dn ON dn.oid = dv.relnamespace AND dn.nspname = cat.direct_view_schema
JOIN pg_rewrite w ON w.ev_class = dv.oid
JOIN pg_depend dep ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = w.oid
JOIN pg_class c ON c.oid = dep.refobjid AND dep.refclassid = 'pg_class'::regclass
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE cat.user_view_schema = ANY(%(schemas)s) AND n.nspname = ANY(%(schemas)s) AND c.oid <> dv.oid
"""


def attach_dependencies(snap: dict[str, dict[str, dict[str, Any]]], edges: list[dict[str, Any]]) -> None:
    """Give every entry its `depends_on` keys (entries without dependencies get an empty list)."""
    caggs = set(snap.get("cagg", {}))
    hypertables = set(snap.get("hypertable", {}))

    def remap(key: str) -> str:
        kind, name = key.split(":", 1)
        return f"cagg:{name}" if kind == "view" and name in caggs else key

    found: dict[str, set[str]] = {}
    for edge in edges:
        dependent, referenced = remap(edge["dependent"]), remap(edge["referenced"])
        if dependent == referenced:
            continue
        found.setdefault(dependent, set()).add(referenced)
        kind, name = referenced.split(":", 1)
        if kind == "table" and name in hypertables and dependent.startswith("cagg:"):
            found[dependent].add(f"hypertable:{name}")
    for kind, entries in snap.items():
        for name, entry in entries.items():
            entry[DEPENDS_ON] = sorted(found.get(f"{kind}:{name}", ()))
