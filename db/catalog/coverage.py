"""Snapshot kinds beyond tables and code: comments, rules, default privileges, roles and memberships.

Each kind is one catalog query. Roles live in the cluster, not the database: a scratch database on
the same server sees the live roles, so the expected side of the roles comes from the schema file
(db/schema/declared_roles.py) and only the roles the file declares are read here.
"""

from __future__ import annotations

from typing import Any

_NOT_MEMBER = """NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '{catalog}'::regclass
                               AND x.objid = {oid} AND x.deptype = 'e')"""

# One row per comment: `target` is the snapshot key of the commented object ("kind:name").
COMMENTS_SQL = f"""
SELECT CASE WHEN d.objsubid > 0 THEN 'column'
            WHEN c.relkind IN ('r', 'p', 'f') THEN 'table' WHEN c.relkind = 'v' THEN 'view'
            WHEN c.relkind = 'm' THEN 'matview' WHEN c.relkind = 'S' THEN 'sequence' ELSE 'index' END
       || ':' || n.nspname || '.' || c.relname
       || CASE WHEN d.objsubid > 0 THEN '.' || a.attname ELSE '' END AS target,
       d.description AS text
FROM pg_description d
JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND c.oid = d.objoid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
WHERE n.nspname = ANY(%(schemas)s) AND {_NOT_MEMBER.format(catalog="pg_class", oid="c.oid")}
UNION ALL
SELECT 'function:' || n.nspname || '.' || p.proname
       || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       d.description
FROM pg_description d
JOIN pg_proc p ON d.classoid = 'pg_proc'::regclass AND p.oid = d.objoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY(%(schemas)s) AND {_NOT_MEMBER.format(catalog="pg_proc", oid="p.oid")}
UNION ALL
SELECT 'schema:' || n.nspname, d.description
FROM pg_description d JOIN pg_namespace n ON d.classoid = 'pg_namespace'::regclass AND n.oid = d.objoid
WHERE n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'type:' || n.nspname || '.' || t.typname, d.description
FROM pg_description d
JOIN pg_type t ON d.classoid = 'pg_type'::regclass AND t.oid = d.objoid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('e', 'd')
  AND {_NOT_MEMBER.format(catalog="pg_type", oid="t.oid")}
UNION ALL
SELECT 'constraint:' || n.nspname || '.' || c.relname || '.' || k.conname, d.description
FROM pg_description d
JOIN pg_constraint k ON d.classoid = 'pg_constraint'::regclass AND k.oid = d.objoid
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'trigger:' || n.nspname || '.' || c.relname || '.' || g.tgname, d.description
FROM pg_description d
JOIN pg_trigger g ON d.classoid = 'pg_trigger'::regclass AND g.oid = d.objoid
JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'policy:' || n.nspname || '.' || c.relname || '.' || o.polname, d.description
FROM pg_description d
JOIN pg_policy o ON d.classoid = 'pg_policy'::regclass AND o.oid = d.objoid
JOIN pg_class c ON c.oid = o.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'rule:' || n.nspname || '.' || c.relname || '.' || w.rulename, d.description
FROM pg_description d
JOIN pg_rewrite w ON d.classoid = 'pg_rewrite'::regclass AND w.oid = d.objoid
JOIN pg_class c ON c.oid = w.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND w.rulename <> '_RETURN'
ORDER BY 1
"""

# Rules other than a view's own _RETURN rule (e.g. DO INSTEAD NOTHING, which silently discards rows).
RULES_SQL = """
SELECT n.nspname AS schema, c.relname AS relation, c.relkind, w.rulename AS name,
       pg_get_ruledef(w.oid, true) AS definition, w.ev_enabled AS enabled
FROM pg_rewrite w
JOIN pg_class c ON c.oid = w.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND w.rulename <> '_RETURN'
ORDER BY 1, 2, 4
"""

# ALTER DEFAULT PRIVILEGES: per role, database-wide (no schema) or for one covered schema.
DEFAULT_PRIVILEGES_SQL = """
SELECT pg_get_userbyid(d.defaclrole) AS role, n.nspname AS schema, d.defaclobjtype AS objtype,
       d.defaclacl::text[] AS acl
FROM pg_default_acl d
LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
WHERE d.defaclnamespace = 0 OR n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2 NULLS FIRST, 3
"""

ROLES_SQL = """
SELECT rolname AS name, rolsuper AS superuser, rolinherit AS inherit, rolcreaterole AS createrole,
       rolcreatedb AS createdb, rolcanlogin AS login, rolreplication AS replication,
       rolbypassrls AS bypassrls, rolconnlimit AS connection_limit,
       -- ALTER ROLE ... SET for every database (setdatabase 0): what the role's sessions start with
       ARRAY(SELECT x FROM pg_db_role_setting s, unnest(s.setconfig) x
             WHERE s.setrole = oid AND s.setdatabase = 0 ORDER BY 1) AS settings
FROM pg_roles WHERE rolname = ANY(%(roles)s)
ORDER BY 1
"""

# What the declared roles are members of: a declared role granted pg_read_all_data (or the table
# owner) escapes row-level security; memberships granted *to* other login roles are theirs to manage.
ROLE_MEMBERSHIPS_SQL = """
SELECT r.rolname AS role, m.rolname AS member, am.admin_option
FROM pg_auth_members am
JOIN pg_roles r ON r.oid = am.roleid
JOIN pg_roles m ON m.oid = am.member
WHERE m.rolname = ANY(%(roles)s)
ORDER BY 1, 2
"""

OBJTYPE_WORDS = {"r": "tables", "S": "sequences", "f": "functions", "T": "types", "n": "schemas"}
ROLE_SETTINGS = "settings"  # ["name=value", ...] as pg_db_role_setting stores them, sorted
ROLE_ATTRIBUTES = (
    "superuser", "inherit", "createrole", "createdb", "login", "replication", "bypassrls", "connection_limit"
)  # fmt: skip


def aclitem_role(name: str) -> str:
    """A role as aclitem text spells it: quoted only when a character is not alphanumeric or '_'."""
    if name.startswith("@") or all(ch.isalnum() or ch == "_" for ch in name):
        return name  # "@migrator" (the placeholder) is never a real role name
    return '"' + name.replace('"', '""') + '"'


def default_acl(kind: str, owner: str) -> list[str]:
    """What a NULL acl means: the owner holds every privilege (and PUBLIC may run functions)."""
    who = aclitem_role(owner)
    letters = {"sequence": "rwU", "function": "X", "schema": "UC", "type": "U"}.get(kind, "arwdDxt")
    acl = [f"{who}={letters}/{who}"]
    if kind in ("function", "type"):  # PUBLIC may run functions and use types
        acl.append(f"={letters}/{who}")
    return sorted(acl)


def comment_name(target: str) -> str:
    """The snapshot name of the comment on `target` ("kind:name" -> "kind name")."""
    return target.replace(":", " ", 1)


def add_comments(snap: dict, rows: list[dict[str, Any]], parent: str) -> None:
    for r in rows:
        snap["comment"][comment_name(r["target"])] = {parent: r["target"], "text": r["text"]}


def add_rules(snap: dict, rows: list[dict[str, Any]], parent: str) -> None:
    for r in rows:
        table = f"{r['schema']}.{r['relation']}"
        owner_kind = {"v": "view", "m": "matview"}.get(r["relkind"], "table")
        snap["rule"][f"{table}.{r['name']}"] = {
            parent: f"{owner_kind}:{table}",
            "definition": r["definition"],
            "enabled": r["enabled"],
        }


def add_default_privileges(snap: dict, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        word = OBJTYPE_WORDS.get(r["objtype"], r["objtype"])
        snap["default_privilege"][f"{r['role']} {r['schema'] or '*'} {word}"] = {
            "role": r["role"],
            "schema": r["schema"],
            "objtype": r["objtype"],
            "privileges": sorted(r["acl"] or []),
        }


def add_roles(
    snap: dict, roles: list[dict[str, Any]], memberships: list[dict[str, Any]], parent: str
) -> None:
    for r in roles:
        snap["role"][r["name"]] = {**{k: r[k] for k in ROLE_ATTRIBUTES}, ROLE_SETTINGS: list(r["settings"])}
    for r in memberships:
        snap["role_membership"][membership_name(r["role"], r["member"])] = {
            parent: f"role:{r['member']}",
            "role": r["role"],
            "member": r["member"],
            "admin_option": r["admin_option"],
        }


def membership_name(role: str, member: str) -> str:
    return f"{member} in {role}"
