"""`rollback --to VERSION`: the down sections of every applied one-off newer than VERSION, newest first.

Refused before anything changes (CheckFailed): a file to undo that is gone or has no (or an empty)
down section. The refusal prints the restore command of the backup taken before that file ran (as
recorded on its 'applied' row), since restoring is then the only way back. An edited applied file
is refused too (db/versions/validate.py), because its down section may no longer match what ran.

A transactional file's down runs in one transaction with its 'rollback' row and the removal of its
backfill progress; a no-transaction file's down runs statement by statement under lock_timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line, mask_url
from db.deploy.lock import hold_migration_lock
from db.deploy.session import prepare_session
from db.errors import ApplyFailed, CheckFailed, ConfigError
from db.schema.statements import split_file
from db.versions.files import MigrationFile
from db.versions.history import VersionRow, record_version, restore_command_for
from db.versions.run import DEFAULT_LIMITS, Limits, run_with_retry, set_local_limits, set_session_limits
from db.versions.validate import version_status

FORGET_PROGRESS_SQL = "DELETE FROM schemaflow.migration_backfill WHERE version = %s"
VERSION_DIGITS = 14


@dataclass
class RollbackResult:
    """The versions whose down sections ran, newest first."""

    target: str
    undone: list[str] = field(default_factory=list)
    seconds: float = 0.0


def rollback_to(
    url: str,
    files: list[MigrationFile],
    target: str,
    *,
    environment: str,
    limits: Limits = DEFAULT_LIMITS,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> RollbackResult:
    """Undo every applied version newer than `target`; raise CheckFailed before any change if one can't be."""
    if not (target.isdigit() and len(target) == VERSION_DIGITS) and target != "0":
        raise ConfigError(
            f"--to {target!r} is not a version", hint="give a 14-digit version (or 0 to undo every one-off)"
        )
    clock = time.monotonic()
    result = RollbackResult(target=target)
    by_version = {f.version: f for f in files}
    conn = connect(url, autocommit=True, connect_timeout=connect_timeout)
    try:
        prepare_session(conn)
        with hold_migration_lock(conn):
            status = version_status(conn, files, allow_out_of_order=True)
            undo = sorted((v for v in status.applied if v > target), reverse=True)
            for version in undo:
                _refuse_without_down(conn, version, by_version.get(version), status.applied[version].slug)
            for version in undo:
                _run_down(conn, by_version[version], environment, limits, sleep)
                result.undone.append(version)
    finally:
        conn.close()
    result.seconds = round(time.monotonic() - clock, 3)
    return result


def _refuse_without_down(conn: psycopg.Connection, version: str, f: MigrationFile | None, slug: str) -> None:
    if f is not None and f.has_down:
        return
    name = f.name if f else f"{version}_{slug}.sql"
    why = "has no down section" if f else "is no longer in the migrations folder"
    restore = restore_command_for(conn, version)
    raise CheckFailed(
        f"rollback: one-off {name} {why}, so it cannot be undone; nothing was changed",
        hint=(
            f"restore the backup taken before it ran: {mask_url(restore)}"
            if restore
            else "no backup was recorded before it ran: restore the newest backup older than it "
            "(schemaflow restore --help), or write its down section in a new one-off"
        ),
    )


def _run_down(
    conn: psycopg.Connection,
    f: MigrationFile,
    environment: str,
    limits: Limits,
    sleep: Callable[[float], None],
) -> None:
    started, clock = datetime.now(UTC), time.monotonic()
    statements = split_file(f.down or "")
    try:
        if f.transactional:
            with conn.transaction():
                set_local_limits(conn, limits)
                for statement in statements:
                    conn.execute(statement.text)  # type: ignore[arg-type]  # the reviewed file
                _record(conn, f, environment, started, clock)
            return
        set_session_limits(conn, limits)
        for statement in statements:
            run_with_retry(conn, statement.text, limits, sleep)
        with conn.transaction():
            _record(conn, f, environment, started, clock)
    except psycopg.Error as exc:
        first = first_error_line(exc)
        raise ApplyFailed(
            f"rollback of {f.name} failed: {first}"
            + ("; rolled back, it is still applied" if f.transactional else "; part of its down section ran"),
            hint=f"fix the down section of {f.name} and run rollback again",
        ) from None


def _record(
    conn: psycopg.Connection, f: MigrationFile, environment: str, started: datetime, clock: float
) -> None:
    conn.execute(FORGET_PROGRESS_SQL, (f.version,))
    record_version(
        conn,
        VersionRow(
            version=f.version, slug=f.slug, checksum=f.checksum, kind="rollback", outcome="success",
            environment=environment, started_at=started, duration_seconds=time.monotonic() - clock,
            detail="down section ran",
        ),
    )  # fmt: skip
