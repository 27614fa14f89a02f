"""The migration history table (`schemaflow.migration_history`): create it, record a run, read runs back."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

HISTORY_DDL = (Path(__file__).resolve().parents[1] / "sql" / "history.sql").read_text(encoding="utf-8")
PROJECT_ROOT = Path(__file__).resolve().parents[2]

HISTORY_TABLE_EXISTS_SQL = "SELECT to_regclass('schemaflow.migration_history') IS NOT NULL"

INSERT_RUN_SQL = """
INSERT INTO schemaflow.migration_history
    (environment, checksum, schema_mode, outcome, objects_changed, attempts, started_at, finished_at,
     duration_seconds, os_user, client_host, git_commit, error_message, changes,
     plan_checksum, approval_reason, approved_by, approval_source)
VALUES (%(environment)s, %(checksum)s, %(schema_mode)s, %(outcome)s, %(objects_changed)s, %(attempts)s,
        %(started_at)s, %(finished_at)s, %(duration_seconds)s, %(os_user)s, %(client_host)s,
        %(git_commit)s, %(error_message)s, %(changes)s::jsonb,
        %(plan_checksum)s, %(approval_reason)s, %(approved_by)s, %(approval_source)s)
RETURNING id
"""

RECORD_APPROVAL_SQL = """
UPDATE schemaflow.migration_history
SET plan_checksum = %(plan_checksum)s, approval_reason = %(reason)s, approved_by = %(approved_by)s,
    approval_source = %(source)s
WHERE id = %(id)s
"""

RECORD_ALLOWED_LINT_SQL = "UPDATE schemaflow.migration_history SET allowed_lint = %(rules)s WHERE id = %(id)s"

RECORD_RESTORE_POINT_SQL = """
UPDATE schemaflow.migration_history SET restore_point = %(restore_point)s WHERE id = %(id)s
"""

LIST_RUNS_SQL = """
SELECT id, environment, outcome, objects_changed, attempts, started_at, finished_at, duration_seconds,
       checksum, schema_mode, db_user, os_user, client_host, git_commit, error_message,
       plan_checksum, approval_reason, approved_by, approval_source
FROM schemaflow.migration_history
WHERE (%(environment)s::text IS NULL OR environment = %(environment)s::text)
ORDER BY id DESC
LIMIT %(limit)s
"""


@dataclass
class HistoryRecord:
    """One migrate run as the history table stores it."""

    environment: str
    checksum: str
    outcome: str
    started_at: datetime
    finished_at: datetime
    schema_mode: str | None = None
    objects_changed: int = 0
    attempts: int = 1
    error_message: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    os_user: str | None = field(default_factory=lambda: _os_user())
    client_host: str | None = field(default_factory=socket.gethostname)
    git_commit: str | None = field(default_factory=lambda: git_commit())
    # The approval of the plan that ran (require_approval environments), else None.
    plan_checksum: str | None = None
    approval_reason: str | None = None
    approved_by: str | None = None
    approval_source: str | None = None

    def params(self) -> dict[str, Any]:
        seconds = (self.finished_at - self.started_at).total_seconds()
        return {
            "environment": self.environment,
            "checksum": self.checksum,
            "schema_mode": self.schema_mode,
            "outcome": self.outcome,
            "objects_changed": self.objects_changed,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": round(seconds, 3),
            "os_user": self.os_user,
            "client_host": self.client_host,
            "git_commit": self.git_commit,
            "error_message": self.error_message,
            "changes": json.dumps(self.changes, default=str),
            "plan_checksum": self.plan_checksum,
            "approval_reason": self.approval_reason,
            "approved_by": self.approved_by,
            "approval_source": self.approval_source,
        }


def ensure_history_table(conn: psycopg.Connection) -> None:
    """Create the schemaflow schema and history table if missing (idempotent, in the caller's transaction)."""
    conn.execute(HISTORY_DDL)  # type: ignore[arg-type]  # a trusted file, no parameters


def record_run(conn: psycopg.Connection, record: HistoryRecord) -> int:
    """Insert one run (creating the table if needed) and return its id; commits only with the caller."""
    ensure_history_table(conn)
    row = conn.execute(INSERT_RUN_SQL, record.params()).fetchone()
    assert row is not None
    return int(row[0])


def record_approval(
    conn: psycopg.Connection,
    history_id: int,
    *,
    plan_checksum: str,
    reason: str,
    approved_by: str | None,
    source: str,
) -> None:
    """Write who approved which plan, and why, onto an existing run's row."""
    ensure_history_table(conn)  # adds the approval columns to a table created by an older version
    conn.execute(
        RECORD_APPROVAL_SQL,
        {
            "id": history_id,
            "plan_checksum": plan_checksum,
            "reason": reason or None,
            "approved_by": approved_by,
            "source": source,
        },
    )


def record_restore_point(conn: psycopg.Connection, history_id: int, restore_point: str) -> None:
    """Write the pgBackRest restore point taken before the run (backup = "pgbackrest") onto its row."""
    ensure_history_table(conn)  # adds the column to a table created by an older version
    conn.execute(RECORD_RESTORE_POINT_SQL, {"id": history_id, "restore_point": restore_point})


def record_allowed_lint(conn: psycopg.Connection, history_id: int, rules: list[str]) -> None:
    """Write the master file's lint rules a reviewer let this run through (--allow-lint) onto its row."""
    ensure_history_table(conn)  # adds the column to a table created by an older version
    conn.execute(RECORD_ALLOWED_LINT_SQL, {"id": history_id, "rules": sorted(rules)})


def list_runs(
    conn: psycopg.Connection, environment: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The most recent runs, newest first; [] when no run was ever recorded on this database."""
    exists = conn.execute(HISTORY_TABLE_EXISTS_SQL).fetchone()
    if not exists or not exists[0]:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(LIST_RUNS_SQL, {"environment": environment, "limit": limit})
        return list(cur.fetchall())


DIRTY_SUFFIX = "-dirty"  # as `git describe --dirty` marks it
# Untracked files count only here: a new one-off not yet committed is part of what a run deploys.
DEPLOYED_FOLDER = "db/migrations"


def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    """The checkout's HEAD commit, with "-dirty" when a tracked file differs from it or an untracked
    file sits in db/migrations (the run did not deploy HEAD as committed); None outside git."""
    # One `git status` answers both: its v2 header names HEAD, its entries what differs from it.
    status = _git(root, "status", "--porcelain=v2", "--branch", "--untracked-files=all")
    lines = status.splitlines()
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), "")
    if not commit or commit == "(initial)":
        return None
    dirty = any(
        line[0] in "12u" or (line.startswith("? ") and line[2:].startswith(f"{DEPLOYED_FOLDER}/"))
        for line in lines
        if line and not line.startswith("#")
    )
    return commit + DIRTY_SUFFIX if dirty else commit


def _git(root: Path, *argv: str) -> str:
    try:
        done = subprocess.run(
            ["git", *argv], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
