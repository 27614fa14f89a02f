"""A dry run's pending one-offs: run in order in one transaction, under the run's limits, rolled back.

The real run executes them (db/versions/run.py); a dry run that only listed them let a one-off the
data refuses show "pending" and then fail the real run. Transactional files run here on the data,
with the same SET LOCAL lock_timeout and statement_timeout and the same retries on a lock timeout.
A no-transaction or batch file cannot run inside the rolled-back transaction, so it and every file
after it (which may depend on it) are marked "not rehearsed".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import psycopg

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line
from db.deploy.lock import hold_migration_lock
from db.deploy.session import RETRYABLE_ERRORS, backoff_seconds, prepare_session
from db.errors import ApplyFailed
from db.schema.statements import split_file
from db.versions.files import MigrationFile
from db.versions.lint import refuse_unacknowledged
from db.versions.lock_watch import LockWatch, watch_one_offs
from db.versions.run import Limits, set_local_limits

NOT_REHEARSED = "not rehearsed on the data: runs outside a transaction"
AFTER_UNREHEARSED = "not rehearsed: it follows a one-off that runs outside a transaction"


@dataclass
class Rehearsed:
    """One pending file in a dry run: rehearsed (ran, rolled back) or not rehearsed, and why."""

    file: MigrationFile
    status: str = "not rehearsed"
    seconds: float = 0.0
    detail: str = ""


def rehearse_one_offs(
    url: str,
    pending: list[MigrationFile],
    *,
    limits: Limits,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Rehearsed]:
    """Run the leading transactional files rolled back; raise ApplyFailed naming a file that fails."""
    out = [Rehearsed(f) for f in pending]
    if not pending:
        return out
    refuse_unacknowledged(pending, limits.as_settings())
    stopped = False
    for item in out:
        if stopped:
            item.detail = AFTER_UNREHEARSED
        elif not item.file.transactional:
            item.detail, stopped = NOT_REHEARSED, True
    ran = [item for item in out if not item.detail]
    if not ran:
        return out
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        prepare_session(conn)
        with hold_migration_lock(conn):
            files = [item.file for item in ran]
            _run_rolled_back(
                conn, ran, limits, sleep,
                lambda: watch_one_offs(conn, files, limits.lock_timeout, url, connect_timeout),
            )  # fmt: skip
    return out


def _run_rolled_back(
    conn: psycopg.Connection,
    items: list[Rehearsed],
    limits: Limits,
    sleep: Callable[[float], None],
    watch: Callable[[], AbstractContextManager[LockWatch | None]],
) -> None:
    attempt = 0
    watching: LockWatch | None = None
    while True:
        attempt += 1
        current = items[0]
        try:
            # The rehearsal holds the real run's locks: nobody waits behind it past lock_timeout either.
            with watch() as watching, conn.transaction(force_rollback=True):
                set_local_limits(conn, limits)
                for current in items:
                    clock = time.monotonic()
                    for statement in split_file(current.file.up):
                        conn.execute(statement.text)  # type: ignore[arg-type]  # the reviewed file
                        if not current.file.locks_acknowledged:
                            set_local_limits(conn, limits)
                    current.seconds = time.monotonic() - clock
            for item in items:
                item.status, item.detail = "rehearsed", "ran on the data and was rolled back"
            return
        except psycopg.Error as exc:
            held = watching.tripped if watching is not None else None
            if held is None and isinstance(exc, RETRYABLE_ERRORS) and attempt <= limits.lock_retries:
                sleep(backoff_seconds(attempt))
                continue
            why = held.describe() if held else first_error_line(exc)
            current.status, current.detail = "failed", why
            sqlstate = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate and not held else ""
            raise ApplyFailed(
                f"dry run: one-off {current.file.name} failed: {why}{sqlstate}; rolled "
                "back, nothing was changed; the real run would fail the same way",
                hint=f"fix {current.file.name} (it is not applied yet, so it may still be edited) and run "
                "the dry run again",
            ) from None
