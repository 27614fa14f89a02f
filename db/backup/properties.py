"""A database's own properties, which pg_dump does not carry, kept across an in-place restore.

Owner, ACL (`REVOKE CONNECT ... FROM PUBLIC` is how a role is locked out of a database), connection
limit, comment, and `ALTER DATABASE / ALTER ROLE ... IN DATABASE ... SET` settings live in shared
catalogs (pg_database, pg_db_role_setting, pg_shdescription) keyed by the database's OID. A plain
pg_dump does not emit them, and a restore into a fresh database gets a new OID, so without this step
an in-place restore would silently reopen a database to everyone and drop its settings. They are
read from the database being replaced and applied to the fresh one inside the swap's transaction
(db/backup/restore.py), so the swap happens with them or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

PROPERTIES_SQL = """
SELECT pg_get_userbyid(d.datdba) AS owner, d.datacl IS NULL AS default_acl,
       d.datconnlimit AS connection_limit, shobj_description(d.oid, 'pg_database') AS comment
FROM pg_database AS d WHERE d.datname = %s
"""
ACL_SQL = """
SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
       a.privilege_type, a.is_grantable
FROM pg_database AS d, aclexplode(d.datacl) AS a WHERE d.datname = %s ORDER BY 1 NULLS FIRST, 2
"""
SETTINGS_SQL = """
SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END AS role, s.setconfig
FROM pg_db_role_setting AS s JOIN pg_database AS d ON d.oid = s.setdatabase
WHERE d.datname = %s ORDER BY 1 NULLS FIRST
"""
DATABASE_PRIVILEGES = {"CONNECT", "CREATE", "TEMPORARY"}
# Settings PostgreSQL stores as a list of double-quoted names (GUC_LIST_QUOTE): `"$user", public`
# must be set back as the two elements '$user' and 'public', not as one string.
LIST_QUOTED_SETTINGS = {
    "search_path",
    "temp_tablespaces",
    "session_preload_libraries",
    "local_preload_libraries",
    "shared_preload_libraries",
}


@dataclass(frozen=True)
class Grant:
    grantee: str | None  # None is PUBLIC
    privilege: str
    grantable: bool


@dataclass(frozen=True)
class DatabaseProperties:
    owner: str
    acl: tuple[Grant, ...] | None  # None: the built-in default (PUBLIC may connect)
    connection_limit: int
    comment: str | None
    settings: tuple[tuple[str | None, str, str], ...]  # (role or None for everyone, name, value)


def read_properties(conn: psycopg.Connection, name: str) -> DatabaseProperties:
    """The properties of database `name`, read through `conn` (any database on the same server)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(PROPERTIES_SQL, (name,)).fetchone()
        if row is None:
            raise LookupError(f"database {name!r} does not exist")
        grants = tuple(
            Grant(g["grantee"], g["privilege_type"], g["is_grantable"])
            for g in cur.execute(ACL_SQL, (name,)).fetchall()
        )
        settings = tuple(
            (s["role"], *item.split("=", 1))
            for s in cur.execute(SETTINGS_SQL, (name,)).fetchall()
            for item in s["setconfig"] or ()
        )
    return DatabaseProperties(
        owner=row["owner"],
        acl=None if row["default_acl"] else grants,
        connection_limit=row["connection_limit"],
        comment=row["comment"],
        settings=settings,  # type: ignore[arg-type]
    )


def apply_properties(conn: psycopg.Connection, name: str, props: DatabaseProperties) -> None:
    """Give database `name` exactly `props`; run inside the caller's transaction."""
    for statement in property_statements(name, props):
        conn.execute(statement)


def property_statements(name: str, props: DatabaseProperties) -> list[sql.Composed]:
    db = sql.Identifier(name)
    statements = [sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, sql.Identifier(props.owner))]
    # Start from nothing, then grant exactly what the old database had; the default ACL is PUBLIC
    # CONNECT + TEMPORARY and everything for the owner.
    statements.append(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    statements.append(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, sql.Identifier(props.owner)))
    grants = props.acl
    if grants is None:
        grants = (
            Grant(None, "CONNECT", False),
            Grant(None, "TEMPORARY", False),
            *(Grant(props.owner, p, False) for p in sorted(DATABASE_PRIVILEGES)),
        )
    for grant in grants:
        if grant.privilege not in DATABASE_PRIVILEGES:
            raise ValueError(f"unexpected database privilege {grant.privilege!r}")
        statements.append(
            sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                sql.SQL(grant.privilege),
                db,
                sql.Identifier(grant.grantee) if grant.grantee else sql.SQL("PUBLIC"),
                sql.SQL(" WITH GRANT OPTION" if grant.grantable else ""),
            )
        )
    statements.append(
        sql.SQL("ALTER DATABASE {} WITH CONNECTION LIMIT {}").format(db, sql.Literal(props.connection_limit))
    )
    # COMMENT and SET are utility statements: they take no bind parameters, so values are literals.
    statements.append(sql.SQL("COMMENT ON DATABASE {} IS {}").format(db, sql.Literal(props.comment)))
    for role, setting, value in props.settings:
        target = (
            sql.SQL("ROLE {} IN DATABASE {}").format(sql.Identifier(role), db)
            if role
            else sql.SQL("DATABASE {}").format(db)
        )
        statements.append(
            sql.SQL("ALTER {} SET {} TO {}").format(
                target,
                sql.Identifier(*setting.split(".")),  # a custom `app.tenant_id` is two names
                sql.SQL(", ").join(sql.Literal(v) for v in setting_values(setting, value)),
            )
        )
    return statements


def setting_values(setting: str, value: str) -> list[str]:
    """The value of a stored `setting=value` as the SET arguments that store it again unchanged."""
    if setting.lower() not in LIST_QUOTED_SETTINGS:
        return [value]
    elements, current, quoted, i = [], [], False, 0
    while i < len(value):
        char = value[i]
        if quoted and char == '"' and value[i + 1 : i + 2] == '"':
            current.append('"')
            i += 1
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            elements.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    elements.append("".join(current).strip())
    return [e for e in elements if e] or [""]
