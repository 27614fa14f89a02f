"""Per-file history of one-off migrations: schemaflow.migration_versions (db/sql/versions.sql).

A file's state is its latest successful row: applied, baseline or repair mean it is in the database
(repair with a new checksum); rollback means it is not. Failed rows are kept for the record only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

VERSIONS_SQL = Path(__file__).resolve().parents[1] / "sql" / "versions.sql"
TABLE_EXISTS_SQL = "SELECT to_regclass('schemaflow.migration_versions') IS NOT NULL"
INSERT_SQL = """
INSERT INTO schemaflow.migration_versions
    (version, slug, checksum, kind, outcome, environment, started_at, duration_seconds,
     out_of_order, restore_command, detail)
VALUES (%(version)s, %(slug)s, %(checksum)s, %(kind)s, %(outcome)s, %(environment)s, %(started_at)s,
        %(duration_seconds)s, %(out_of_order)s, %(restore_command)s, %(detail)s)
RETURNING id
"""
# The latest successful row of each version.
CURRENT_SQL = """
SELECT DISTINCT ON (version) version, slug, checksum, kind, finished_at, restore_command
FROM schemaflow.migration_versions
WHERE outcome = 'success'
ORDER BY version, id DESC
"""
LIST_SQL = """
SELECT id, version, slug, checksum, kind, outcome, environment, started_at, duration_seconds,
       out_of_order, detail
FROM schemaflow.migration_versions ORDER BY id
"""
# The restore command recorded when the file was applied (its latest applied row).
RESTORE_COMMAND_SQL = """
SELECT restore_command FROM schemaflow.migration_versions
WHERE version = %s AND kind = 'applied' AND outcome = 'success' ORDER BY id DESC LIMIT 1
"""


@dataclass(frozen=True)
class AppliedVersion:
    """A version the database has (applied, baselined or repaired, not rolled back)."""

    version: str
    slug: str
    checksum: str
    kind: str
    finished_at: datetime
    restore_command: str | None


@dataclass(frozen=True)
class VersionRow:
    """One row to write: what happened to one file."""

    version: str
    slug: str
    checksum: str
    kind: str
    outcome: str
    environment: str
    started_at: datetime
    duration_seconds: float = 0.0
    out_of_order: bool = False
    restore_command: str | None = None
    detail: str | None = None


def ensure_versions_table(conn: psycopg.Connection) -> None:
    """Create the tables if missing (idempotent; commits only with the caller's transaction)."""
    conn.execute(VERSIONS_SQL.read_text(encoding="utf-8"))  # type: ignore[arg-type]  # our own file


def has_versions_table(conn: psycopg.Connection) -> bool:
    row = conn.execute(TABLE_EXISTS_SQL).fetchone()
    return bool(row and row[0])


def applied_versions(conn: psycopg.Connection) -> dict[str, AppliedVersion]:
    """version -> its state, for every version currently in the database; {} before any one-off."""
    if not has_versions_table(conn):
        return {}
    rows = conn.execute(CURRENT_SQL).fetchall()
    return {r[0]: AppliedVersion(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows if r[3] != "rollback"}


def record_version(conn: psycopg.Connection, row: VersionRow) -> int:
    """Insert one row (creating the table if needed); commits only with the caller."""
    ensure_versions_table(conn)
    params = dict(row.__dict__, duration_seconds=round(row.duration_seconds, 3))
    found = conn.execute(INSERT_SQL, params).fetchone()
    assert found is not None
    return int(found[0])


def list_versions(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every row, oldest first; [] when no one-off was ever recorded."""
    if not has_versions_table(conn):
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(LIST_SQL)
        return list(cur.fetchall())


def restore_command_for(conn: psycopg.Connection, version: str) -> str | None:
    row = conn.execute(RESTORE_COMMAND_SQL, (version,)).fetchone()
    return str(row[0]) if row and row[0] else None
