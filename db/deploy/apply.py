"""Applying the master schema: all-or-nothing, under the migration lock, with lock retries and a change list.

The file runs statement by statement (split by pglast, db/schema/statements.py) inside one explicit
transaction, so any failure names its line in the file and still rolls everything back. Statements
that cannot run in a transaction block (a continuous aggregate's first refresh) run after the
commit, in autocommit (db/deploy/post_commit.py). The session's settings and the lock-timeout
retries are db/deploy/session.py's, shared with every other writer.

No orphans: the session asks the server to check the client socket while a statement runs, so a
client killed mid-apply (kill -9, a lost host) does not leave its statement, its locks and the
migration lock behind until statement_timeout; SIGTERM cancels the running statement and stops
(db/deploy/interrupt.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, NoReturn

import psycopg
from pglast import ast, parse_sql
from psycopg import sql

from db.catalog.capabilities import detect_capabilities
from db.catalog.snapshot import snapshot_catalog
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line, mask_url
from db.deploy.history import HistoryRecord, record_run
from db.deploy.interrupt import Interruption, cancel_on_sigterm, interrupted_error
from db.deploy.lock import hold_migration_lock
from db.deploy.post_commit import run_post_commit_steps
from db.deploy.result import ApplyResult, changes_between
from db.deploy.session import RETRYABLE_ERRORS, backoff_seconds, prepare_session
from db.errors import ApplyFailed, ConnectionFailed
from db.plan.quoting import quote_ident
from db.schema.master_file import checksum, read_schema
from db.schema.statements import Statement, error_line, refuse_transaction_control, split_file

SNAPSHOT_SCHEMAS = ("public",)
# Which of the given tables ('schema.table') exist, in the order given.
PRESENT_TABLES_SQL = """
SELECT coalesce(array_agg(t.name ORDER BY t.ord), '{}')
FROM unnest(%s::text[]) WITH ORDINALITY AS t (name, ord)
WHERE to_regclass(t.name) IS NOT NULL
"""


class TargetNotEmpty(Exception):
    """Tables the caller saw absent exist once the migration lock is held: nothing was run.

    Not a SchemaflowError: it is a signal to plan instead (db/run/plan_apply.py), never a message.
    """

    def __init__(self, present: list[str]) -> None:
        super().__init__(", ".join(present))
        self.present = present


def present_tables(conn: psycopg.Connection, tables: Sequence[str]) -> list[str]:
    """The ones of `tables` that exist here, in the order given."""
    row = conn.execute(PRESENT_TABLES_SQL, (list(tables),)).fetchone()
    return list(row[0]) if row else []


def apply_master_schema(
    url: str,
    sql_text: str | None = None,
    *,
    environment: str = "local",
    lock_timeout: str = "2s",
    statement_timeout: str = "15min",
    lock_retries: int = 3,
    dry_run: bool = False,
    record_history: bool = True,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    absent_tables: Sequence[str] = (),
    then: Callable[[ApplyResult], ApplyResult] | None = None,
) -> ApplyResult:
    """Apply the master file (or `sql_text`) in one transaction; raise MigrationLocked or ApplyFailed.

    `lock_retries` is how many times a lock timeout is retried after the first attempt.
    `absent_tables`: tables that must still be absent once the lock is held (the caller chose the
    whole file because it found none of them); if one exists, raise TargetNotEmpty, having run nothing.
    `then`: run on the result before the migration lock is released (the one-offs' baseline rows), so
    no other migrate sees the committed schema without them.
    """
    text = sql_text if sql_text is not None else read_schema()
    refuse_transaction_control(text)
    statements = split_file(text)
    started = datetime.now(UTC)
    clock = time.monotonic()
    conn = connect(url, autocommit=True, connect_timeout=connect_timeout)
    notices: list[str] = []
    conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    try:
        prepare_session(conn)
        with cancel_on_sigterm(conn) as interruption, hold_migration_lock(conn):
            if absent_tables:
                _refuse_present(conn, absent_tables, interruption)
            result = _apply_locked(
                conn,
                text,
                statements,
                interruption,
                notices,
                environment,
                lock_timeout,
                statement_timeout,
                lock_retries,
                dry_run,
                record_history,
                started,
                clock,
                sleep,
            )
            return then(result) if then else result
    finally:
        conn.close()


def _refuse_present(conn: psycopg.Connection, tables: Sequence[str], interruption: Interruption) -> None:
    try:
        present = present_tables(conn, tables)
    except psycopg.errors.QueryCanceled:
        if interruption.requested:  # SIGTERM while reading: nothing has run yet
            raise interrupted_error(interruption.signal_name) from None
        raise
    if present:
        raise TargetNotEmpty(present)


def _apply_locked(
    conn: psycopg.Connection,
    text: str,
    statements: list[Statement],
    interruption: Interruption,
    notices: list[str],
    environment: str,
    lock_timeout: str,
    statement_timeout: str,
    lock_retries: int,
    dry_run: bool,
    record_history: bool,
    started: datetime,
    clock: float,
    sleep: Callable[[float], None],
) -> ApplyResult:
    """The retry loop and post-commit steps, run while this session holds the migration lock."""
    mode = detect_capabilities(conn).mode
    result = ApplyResult(
        environment=environment,
        checksum=checksum(text),
        mode=mode,
        dry_run=dry_run,
        statements=len(statements),
    )
    record = record_history and not dry_run
    attempt = 0
    while True:
        attempt += 1
        result.attempts = attempt
        notices.clear()
        try:
            interruption.raise_if_requested()
            _run_transaction(
                conn, statements, interruption, result, lock_timeout, statement_timeout, record, started
            )
            break
        except ApplyFailed as stopped:  # SIGTERM, between statements
            _fail(conn, result, started, clock, stopped, record)
        except (StatementError, psycopg.Error) as caught:
            exc, statement = caught.unwrap() if isinstance(caught, StatementError) else (caught, None)
            if interruption.requested:  # the statement we cancelled, or a race with its end
                _fail(conn, result, started, clock, interrupted_error(interruption.signal_name), record)
            if isinstance(exc, RETRYABLE_ERRORS):
                if attempt > lock_retries:
                    error = _apply_failed(exc, statement, attempt, retryable=True)
                    _fail(conn, result, started, clock, error, record)
                sleep(backoff_seconds(attempt))
                continue
            if conn.broken:
                # Not the file's fault, and if the drop came during COMMIT nobody knows whether it
                # committed; the file is idempotent, so running it again settles it either way.
                raise ConnectionFailed(
                    f"lost the connection to the server during apply (attempt {attempt}): "
                    f"{first_error_line(exc)}",
                    hint="run migrate again: the master file is idempotent, and `schemaflow history` "
                    "shows whether this run committed",
                ) from None
            error = _apply_failed(exc, statement, attempt, retryable=False)
            _fail(conn, result, started, clock, error, record)
    result.notices = [n for n in notices if n]
    result.outcome = "rolled back (dry run)" if dry_run else "committed"
    if not dry_run:
        conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(statement_timeout)))
        result.post_commit_steps = run_post_commit_steps(conn, result)
        if interruption.requested:
            late = interrupted_error(interruption.signal_name, committed=True)
            late.result = result
            raise late
    result.seconds = round(time.monotonic() - clock, 3)
    return result


class StatementError(Exception):
    """A server error raised by one statement of the file, carrying that statement for its line."""

    def __init__(self, statement: Statement, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.statement = statement
        self.error = error

    def unwrap(self) -> tuple[psycopg.Error, Statement]:
        return self.error, self.statement


def run_statements(conn: psycopg.Connection, statements: list[Statement], interruption: Interruption) -> None:
    """Each statement in turn (in the caller's transaction); stop at once when SIGTERM arrived."""
    for statement in statements:
        interruption.raise_if_requested()
        try:
            conn.execute(statement.text)  # type: ignore[arg-type]  # the trusted master file; no parameters
        except psycopg.Error as exc:
            raise StatementError(statement, exc) from exc


def _run_transaction(
    conn: psycopg.Connection,
    statements: list[Statement],
    interruption: Interruption,
    result: ApplyResult,
    lock_timeout: str,
    statement_timeout: str,
    record_history: bool,
    started: datetime,
) -> None:
    """One attempt: snapshot, run the file, snapshot, record history; commit (or roll back a dry run)."""
    with conn.transaction(force_rollback=result.dry_run):
        # LOCAL: the limits end with this transaction and never leak into post-commit steps.
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout)))
        conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(statement_timeout)))
        before = snapshot_catalog(conn, schemas=SNAPSHOT_SCHEMAS)
        run_statements(conn, statements, interruption)
        after = snapshot_catalog(conn, schemas=SNAPSHOT_SCHEMAS)
        result.changes = changes_between(before, after)
        result.mode = detect_capabilities(conn).mode
        if record_history:
            result.history_id = record_run(
                conn,
                _history_record(
                    result,
                    started,
                    "success",
                    objects_changed=result.objects_changed,
                    changes=[asdict(c) for c in result.changes],
                ),
            )


def _apply_failed(
    exc: psycopg.Error, statement: Statement | None, attempts: int, *, retryable: bool
) -> ApplyFailed:
    primary = exc.diag.message_primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = ""
    if statement is not None:
        line = error_line(statement, exc)
        where = f" at line {line}"
        if line != statement.line:
            where += f" (statement from line {statement.line})"
    elif exc.diag.context:
        where = f" ({exc.diag.context.strip().splitlines()[-1]})"
    sqlstate = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else ""
    if retryable:
        return ApplyFailed(
            mask_url(f"gave up after {attempts} attempt(s): {primary}{where}{sqlstate}; nothing was changed"),
            hint="another session holds a lock on a schema table; end it (see preflight's list of "
            "blocking transactions) or retry when traffic is lower",
        )
    return ApplyFailed(
        mask_url(f"the schema file failed{where}: {primary}{sqlstate}; rolled back, nothing was changed"),
        hint="fix the statement in the schema file and run again",
    )


def record_history_row(
    conn: psycopg.Connection, result: ApplyResult, started: datetime, outcome: str, **extra: Any
) -> int | None:
    """Write the run's history row in its own short transaction; best effort, like a failed run's."""
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '5s'")
            result.history_id = record_run(conn, _history_record(result, started, outcome, **extra))
    except psycopg.Error:
        return None
    return result.history_id


def _history_record(result: ApplyResult, started: datetime, outcome: str, **extra: Any) -> HistoryRecord:
    """The history row for this run, finished now; `extra` adds what only one outcome knows."""
    return HistoryRecord(
        environment=result.environment,
        checksum=result.checksum,
        outcome=outcome,
        started_at=started,
        finished_at=datetime.now(UTC),
        schema_mode=result.mode,
        attempts=result.attempts,
        # The plan this run ran, approved or not (record_approval adds who approved it, and why).
        **{"plan_checksum": result.plan_checksum or None, **extra},
    )


def _fail(
    conn: psycopg.Connection,
    result: ApplyResult,
    started: datetime,
    clock: float,
    error: ApplyFailed,
    record: bool,
) -> NoReturn:
    """Record the failed run (after the rollback), attach the result for the report, raise `error`."""
    result.outcome = "failed, rolled back: nothing was changed"
    _record_failure(conn, result, started, clock, error, record)
    error.result = result
    raise error from None


def _record_failure(
    conn: psycopg.Connection,
    result: ApplyResult,
    started: datetime,
    clock: float,
    error: ApplyFailed,
    enabled: bool,
) -> None:
    """Write the failed run's row in its own transaction (the migration's was rolled back)."""
    result.seconds = round(time.monotonic() - clock, 3)
    if not enabled:
        return
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '5s'")
            result.history_id = record_run(
                conn,
                _history_record(result, started, "failed", error_message=mask_url(error.message)[:2000]),
            )
    except psycopg.Error:
        pass  # the history row is best effort; the caller raises the real error
    result.seconds = round(time.monotonic() - clock, 3)


def file_tables(text: str) -> list[str]:
    """The tables the file creates at top level, as 'schema.table' (public when unqualified), quoted
    where PostgreSQL needs it (`public."Weird Table"`): to_regclass parses them as SQL names."""
    names = []
    for raw in parse_sql(text):
        if isinstance(raw.stmt, ast.CreateStmt) and raw.stmt.relation is not None:
            rel = raw.stmt.relation
            names.append(f"{quote_ident(rel.schemaname or 'public')}.{quote_ident(rel.relname or '')}")
    return names


def target_is_empty(url: str, text: str, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT) -> bool:
    """True when none of the file's tables exists in the target: the whole file may run at once."""
    tables = file_tables(text)
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        return not present_tables(conn, tables)
