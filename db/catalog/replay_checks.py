"""Which of the file's replayed statements (db/schema/replayed.py) the live database still needs.

Read-only and bounded: a password is checked against the stored verifier (SCRAM-SHA-256 or md5, the
way the server checks a login) when the connecting role may read pg_authid, which takes superuser;
otherwise it cannot be known and the statement is replayed, and the plan says why. Reference rows
are looked up by their conflict key (or the table's primary key) with one SELECT per INSERT, under
a statement timeout, taking ACCESS SHARE only.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from db.connection.scram import password_matches
from db.connection.urls import first_error_line
from db.schema.replayed import PASSWORD, Replay

CHECK_TIMEOUT = "5s"
_VERIFIER_SQL = "SELECT rolpassword FROM pg_authid WHERE rolname = %s"
_ROLE_EXISTS_SQL = "SELECT 1 FROM pg_roles WHERE rolname = %s"
_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       coalesce(a.attnum = ANY(i.indkey), false) AS in_primary_key
FROM pg_attribute a
LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# The rows of the file's INSERT (its own VALUES or SELECT) that no row of the table matches by key.
_MISSING_ROWS_SQL = (
    "SELECT count(*) FROM ({source}) AS v({columns}) WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})"
)


@dataclass(frozen=True)
class NeededReplay:
    """A replay the live database needs, and why (shown in the plan's step)."""

    replay: Replay
    reason: str


def needed_replays(conn: psycopg.Connection, replays: list[Replay]) -> list[NeededReplay]:
    """The replays whose effect the database at `conn` lacks (or cannot be shown to have)."""
    needed = []
    for replay in replays:
        with conn.transaction():
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (CHECK_TIMEOUT,))
            reason = _password_reason(conn, replay) if replay.kind == PASSWORD else _rows_reason(conn, replay)
        if reason:
            needed.append(NeededReplay(replay, reason))
    return needed


def _password_reason(conn: psycopg.Connection, replay: Replay) -> str:
    if conn.execute(_ROLE_EXISTS_SQL, (replay.name,)).fetchone() is None:
        return f"line {replay.line}: the role is created by this plan; its password is set from the file"
    try:
        with conn.transaction():
            row = conn.execute(_VERIFIER_SQL, (replay.name,)).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return (
            f"line {replay.line}: only a superuser may read a stored password, so it is set again on "
            "every run"
        )
    stored = row[0] if row else None
    if replay.password is None:
        return "" if stored is None else f"line {replay.line}: the file removes the role's password"
    if stored is not None and password_matches(stored, replay.name, replay.password):
        return ""
    return f"line {replay.line}: the role's password is not the one in the file"


def _rows_reason(conn: psycopg.Connection, replay: Replay) -> str:
    columns = conn.execute(_COLUMNS_SQL, (replay.name,)).fetchall()
    if not columns:
        return f"line {replay.line}: the table is created by this plan; its reference rows are inserted"
    types = {name: type_ for name, type_, _ in columns}
    inserted = list(replay.columns) or [name for name, _, _ in columns]
    if replay.compare_all:
        keys = inserted
    else:
        keys = list(replay.keys) or [name for name, _, pk in columns if pk and name in inserted] or inserted
    if any(k not in types or k not in inserted for k in keys):
        return f"line {replay.line}: the table lacks a column the rows name"
    schema, table = replay.name.split(".", 1)
    match = sql.SQL(" AND ").join(
        sql.SQL("t.{0} IS NOT DISTINCT FROM v.{0}::{1}").format(sql.Identifier(k), sql.SQL(types[k]))
        for k in keys
    )
    query = sql.SQL(_MISSING_ROWS_SQL).format(
        source=sql.SQL(replay.source),  # type: ignore[arg-type]  # the trusted master file's own SELECT
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in inserted),
        table=sql.Identifier(schema, table),
        match=match,
    )
    try:
        with conn.transaction():
            missing = conn.execute(query).fetchone()[0]  # type: ignore[index]
    except psycopg.Error as exc:
        why = first_error_line(exc)
        return f"line {replay.line}: the rows could not be looked up ({why}), so they are inserted again"
    if not missing:
        return ""
    return f"line {replay.line}: {missing} of the file's rows are not in {replay.name}"
