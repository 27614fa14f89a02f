"""Post-apply verification: the old script's table count and key-table query, done as report rows.

Hypertables, indexes, foreign keys and RLS are db/deploy/health.py's checks, which verify runs after these.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from db.deploy.check_result import CheckResult

# The six tables the old migrate script checked after every deploy.
KEY_TABLES = ("tenants", "users", "podcasts", "episodes", "campaigns", "listener_events")

# The old verification query: how many tables, and which key tables are present.
TABLE_COUNT_SQL = """
SELECT count(*) AS total_tables,
       array_agg(c.relname::text ORDER BY c.relname)
           FILTER (WHERE c.relname = ANY(%(key_tables)s)) AS key_found
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
"""
KEY_TABLE_SQL = """
SELECT c.relname::text AS name,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS has_primary_key,
       (SELECT count(*) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND NOT i.indisvalid) AS has_invalid_index
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = ANY(%(key_tables)s) AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


def verify_schema(conn: psycopg.Connection, schema: str = "public") -> list[CheckResult]:
    """Run the table count and key-table checks; never raises for a failed check."""
    params = {"schema": schema, "key_tables": list(KEY_TABLES)}
    row = conn.execute(TABLE_COUNT_SQL, params).fetchone()
    total, found = (row[0], set(row[1] or [])) if row else (0, set())
    rerun = "run schemaflow migrate again and read its change list; check the master file defines them"
    rows = [
        CheckResult("table count", "pass" if total else "fail", f"{total} tables in schema {schema}",
                    "" if total else rerun)
    ]  # fmt: skip
    missing = [t for t in KEY_TABLES if t not in found]
    if missing:
        rows.append(CheckResult("key tables present", "fail", f"missing: {', '.join(missing)}", rerun))
    else:
        rows.append(
            CheckResult("key tables present", "pass", f"all {len(KEY_TABLES)}: {', '.join(KEY_TABLES)}")
        )
    rows.extend(_validate_key_tables(conn, schema, params))
    return rows


def _validate_key_tables(conn: psycopg.Connection, schema: str, params: dict) -> list[CheckResult]:
    rows = []
    for name, has_pk, columns, has_invalid_index in conn.execute(KEY_TABLE_SQL, params).fetchall():
        problems = []
        if not has_pk:
            problems.append("no primary key")
        if has_invalid_index:
            problems.append("an INVALID index (a failed build); drop and recreate it")
        readable = _is_readable(conn, schema, name)
        if readable is not None:
            problems.append(f"cannot be read: {readable}")
        rows.append(
            CheckResult(
                f"key table {name}",
                "fail" if problems else "pass",
                "; ".join(problems) if problems else f"{columns} columns, primary key, readable",
            )
        )
    return rows


def _is_readable(conn: psycopg.Connection, schema: str, table: str) -> str | None:
    """None when `SELECT ... LIMIT 1` works; otherwise the server's message."""
    query = sql.SQL("SELECT 1 FROM {}.{} LIMIT 1").format(sql.Identifier(schema), sql.Identifier(table))
    try:
        with conn.transaction():
            conn.execute(query)
    except psycopg.Error as exc:
        return (exc.diag.message_primary or type(exc).__name__).strip()
    return None
