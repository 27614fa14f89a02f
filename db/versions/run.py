"""Running pending one-offs, oldest first, under the migration lock, before the master file's plan.

- Consecutive transactional files run in one transaction with their history rows (all-or-nothing),
  under SET LOCAL lock_timeout and statement_timeout, retried whole on a lock timeout with db/deploy's
  backoff (db/deploy/session.py RETRYABLE_ERRORS, backoff_seconds).
- A no-transaction file runs statement by statement in autocommit (an autocommit block: what came
  before it is committed), each statement under lock_timeout and retried alone; its statements must
  be idempotent (IF NOT EXISTS ...), so a rerun after a failure part way resumes.
- A batch file's UPDATEs run in batches (db/versions/backfill.py); its other statements as above.

A failed file gets a 'failed' row written after the rollback and stops the run: the master's plan
does not run on top of a half-done sequence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line
from db.deploy.lock import hold_migration_lock
from db.deploy.session import RETRYABLE_ERRORS, backoff_seconds, prepare_session
from db.errors import ApplyFailed
from db.schema.statements import Statement, error_line, split_file
from db.versions.backfill import DEFAULT_MAX_PASSES, BackfillNotConverged, is_update, run_batched_update
from db.versions.files import MigrationFile
from db.versions.history import VersionRow, ensure_versions_table, record_version
from db.versions.lint import refuse_unacknowledged
from db.versions.lock_watch import HeldTooLong, LockWatch, watch_one_offs
from db.versions.validate import Status, version_status

LOGGER = logging.getLogger("schemaflow.versions")
SET_SESSION_SQL = "SELECT set_config(%s, %s, false)"


@dataclass
class FileRun:
    """What running one file did."""

    version: str
    name: str
    how: str  # transaction | no-transaction | batch N
    status: str = "pending"  # done | failed | partly done (a backfill that has not converged) | pending
    seconds: float = 0.0
    statements: int = 0
    attempts: int = 0
    out_of_order: bool = False
    detail: str = ""

    def row(self) -> dict[str, str]:
        return {"one-off": self.name, "how": self.how, "status": self.status,
                "seconds": f"{self.seconds:.3f}", "statements": str(self.statements),
                "detail": self.detail}  # fmt: skip


@dataclass
class VersionsRun:
    """The pending one-offs and what happened to each."""

    files: list[FileRun] = field(default_factory=list)
    missing_files: tuple[str, ...] = ()

    @property
    def ran(self) -> int:
        return sum(1 for f in self.files if f.status == "done")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Limits:
    lock_timeout: str = "1s"
    statement_timeout: str = "5min"
    lock_retries: int = 3
    backfill_passes: int = DEFAULT_MAX_PASSES  # passes one run makes before a backfill stops unconverged

    def as_settings(self) -> dict[str, str]:
        return {"lock_timeout": self.lock_timeout, "statement_timeout": self.statement_timeout}


DEFAULT_LIMITS = Limits()


def pending_migrations(
    url: str, files: list[MigrationFile], *, allow_out_of_order: bool = False,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> Status:  # fmt: skip
    """Validate the files against the database's history and return what is pending (reads only)."""
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        return version_status(conn, files, allow_out_of_order=allow_out_of_order)


def run_pending_migrations(
    url: str,
    files: list[MigrationFile],
    *,
    environment: str,
    limits: Limits | None = None,
    allow_out_of_order: bool = False,
    restore_command: str | None = None,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = LOGGER.info,
) -> VersionsRun:
    """Validate, then run every pending file in order; raise CheckFailed / ApplyFailed naming the file."""
    result = VersionsRun()
    limits = limits or DEFAULT_LIMITS
    if not files:
        return result
    conn = connect(url, autocommit=True, connect_timeout=connect_timeout)
    try:
        prepare_session(conn)
        with hold_migration_lock(conn):
            status = version_status(conn, files, allow_out_of_order=allow_out_of_order)
            result.missing_files = status.missing_files
            if not status.pending:
                return result
            refuse_unacknowledged(status.pending, limits.as_settings())
            ensure_versions_table(conn)
            runner = _Runner(
                conn, environment, limits, restore_command, sleep, log, status, url, connect_timeout
            )
            for group in _groups(status.pending):
                runs = [runner.start(f) for f in group]
                result.files += runs
                if group[0].transactional:
                    runner.transaction(group, runs)
                else:
                    runner.autocommit_file(group[0], runs[0])
    finally:
        conn.close()
    return result


def _groups(pending: list[MigrationFile]) -> list[list[MigrationFile]]:
    """Consecutive transactional files together (one transaction); each other file alone."""
    groups: list[list[MigrationFile]] = []
    for f in pending:
        if f.transactional and groups and groups[-1][0].transactional:
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups


@dataclass
class _Runner:
    conn: psycopg.Connection
    environment: str
    limits: Limits
    restore_command: str | None
    sleep: Callable[[float], None]
    log: Callable[[str], None]
    status: Status
    url: str
    connect_timeout: int

    def watch(self, files: list[MigrationFile]) -> AbstractContextManager[LockWatch | None]:
        return watch_one_offs(self.conn, files, self.limits.lock_timeout, self.url, self.connect_timeout)

    def start(self, f: MigrationFile) -> FileRun:
        how = (
            f"batch {f.batch}"
            if f.batch is not None
            else "no-transaction"
            if f.no_transaction
            else "transaction"
        )
        return FileRun(f.version, f.name, how, out_of_order=f.version in self.status.out_of_order)

    def transaction(self, group: list[MigrationFile], runs: list[FileRun]) -> None:
        attempt = 0
        while True:
            attempt += 1
            current: tuple[MigrationFile, FileRun] | None = None
            running: Statement | None = None
            started = datetime.now(UTC)
            watch, watching = self.watch(group), None
            try:
                with watch as watching, self.conn.transaction():
                    set_local_limits(self.conn, self.limits)
                    for f, run in zip(group, runs, strict=True):
                        current = (f, run)
                        clock = time.monotonic()
                        statements = split_file(f.up)
                        for statement in statements:
                            running = statement
                            self.conn.execute(statement.text)  # type: ignore[arg-type]  # the reviewed file
                            if not f.locks_acknowledged:  # whatever the file SET (a DO block's set_config)
                                set_local_limits(self.conn, self.limits)
                        run.seconds, run.statements, run.attempts = (
                            time.monotonic() - clock,
                            len(statements),
                            attempt,
                        )
                        self._record(f, run, started, "success")
                for run in runs:
                    run.status = "done"
                    self.log(f"one-off {run.name}: applied in the transaction ({run.seconds:.3f} s)")
                return
            except psycopg.Error as exc:
                held = watching.tripped if watching is not None else None
                if held is None and isinstance(exc, RETRYABLE_ERRORS) and attempt <= self.limits.lock_retries:
                    self.sleep(backoff_seconds(attempt))
                    continue
                f, run = current if current else (group[0], runs[0])
                self._failed(
                    f,
                    run,
                    started,
                    exc,
                    attempt,
                    "rolled back: no file of this transaction was applied",
                    held,
                    error_line(running, exc) if running is not None else None,
                )

    def autocommit_file(self, f: MigrationFile, run: FileRun) -> None:
        started, clock = datetime.now(UTC), time.monotonic()
        set_session_limits(self.conn, self.limits)
        statements = split_file(f.up)
        details = []
        for index, statement in enumerate(statements, 1):
            if f.batch is not None and is_update(statement.text):
                try:
                    progress = run_batched_update(
                        self.conn, version=f.version, file_name=f.name, index=index, statement=statement.text,
                        batch_rows=f.batch, lock_timeout=self.limits.lock_timeout,
                        statement_timeout=self.limits.statement_timeout,
                        lock_retries=self.limits.lock_retries, max_passes=self.limits.backfill_passes,
                        sleep=self.sleep, log=self.log,
                    )  # fmt: skip
                except ApplyFailed as error:
                    run.seconds = time.monotonic() - clock
                    partly = isinstance(error, BackfillNotConverged)
                    self._write_failure(f, run, started, error.message, "partly done" if partly else "failed")
                    raise
                details.append(progress.describe())
                continue
            watching: LockWatch | None = None
            try:
                with self.watch([f]) as watching:
                    run.attempts = max(
                        run.attempts, run_with_retry(self.conn, statement.text, self.limits, self.sleep)
                    )
                if not f.locks_acknowledged:  # whatever the file SET, the next statement has the limits
                    set_session_limits(self.conn, self.limits)
            except psycopg.Error as exc:
                self._failed(
                    f, run, started, exc, self.limits.lock_retries + 1,
                    f"statement {index} of {len(statements)} failed; the ones before it are committed "
                    "(they are idempotent: migrate again resumes)",
                    watching.tripped if watching is not None else None,
                    error_line(statement, exc),
                )  # fmt: skip
        run.seconds, run.statements, run.detail = (
            time.monotonic() - clock,
            len(statements),
            "; ".join(details),
        )
        with self.conn.transaction():
            self._record(f, run, started, "success")
        run.status = "done"
        suffix = f": {run.detail}" if run.detail else ""
        self.log(f"one-off {run.name}: applied ({run.how}, {run.seconds:.3f} s){suffix}")

    def _record(
        self, f: MigrationFile, run: FileRun, started: datetime, outcome: str, error: str = ""
    ) -> None:
        record_version(
            self.conn,
            VersionRow(
                version=f.version, slug=f.slug, checksum=f.checksum, kind="applied", outcome=outcome,
                environment=self.environment, started_at=started, duration_seconds=run.seconds,
                out_of_order=run.out_of_order, restore_command=self.restore_command,
                detail=(error or run.detail or None),
            ),
        )  # fmt: skip

    def _write_failure(
        self, f: MigrationFile, run: FileRun, started: datetime, message: str, status: str = "failed"
    ) -> None:
        run.status, run.detail = status, message
        try:
            with self.conn.transaction():
                self._record(f, run, started, "failed", message[:2000])
        except psycopg.Error:
            pass  # the failure itself is what the run reports; a lost history row must not hide it

    def _failed(
        self,
        f: MigrationFile,
        run: FileRun,
        started: datetime,
        exc: psycopg.Error,
        attempts: int,
        what: str,
        held: HeldTooLong | None = None,
        line: int | None = None,
    ) -> None:
        name = f"{f.name}:{line}" if line else f.name  # the line opens in an editor as it is
        if held is not None:
            message = f"one-off {name} failed: {held.describe()}; {what}"
            hint = (
                f"make {f.name} hold its locks briefly (split it; run it as no-transaction or in batches), "
                "or, after review, add `-- schemaflow: locks acknowledged: <reason>` to its header"
            )
        else:
            first = first_error_line(exc)
            sqlstate = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else ""
            gave_up = f"gave up after {attempts} attempt(s): " if isinstance(exc, RETRYABLE_ERRORS) else ""
            message = f"one-off {name} failed: {gave_up}{first}{sqlstate}; {what}"
            hint = (
                "another session holds a lock; run migrate again when it has finished"
                if gave_up
                else f"fix {f.name} (it is not applied yet, so it may still be edited) and run migrate again"
            )
        self._write_failure(f, run, started, message)
        raise ApplyFailed(message, hint=hint) from None


def set_local_limits(conn: psycopg.Connection, limits: Limits) -> None:
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(limits.lock_timeout)))
    conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(limits.statement_timeout)))


def set_session_limits(conn: psycopg.Connection, limits: Limits) -> None:
    for name, value in (
        ("lock_timeout", limits.lock_timeout),
        ("statement_timeout", limits.statement_timeout),
    ):
        conn.execute(SET_SESSION_SQL, (name, value))


def run_with_retry(
    conn: psycopg.Connection, statement: str, limits: Limits, sleep: Callable[[float], None]
) -> int:
    """One statement in autocommit, retried alone on a lock timeout; returns the attempts it took."""
    attempt = 0
    while True:
        attempt += 1
        try:
            conn.execute(statement)  # type: ignore[arg-type]  # a reviewed one-off file
            return attempt
        except psycopg.Error as exc:
            if isinstance(exc, RETRYABLE_ERRORS) and attempt <= limits.lock_retries:
                sleep(backoff_seconds(attempt))
                continue
            raise
