"""Applying the master schema: all-or-nothing, under the migration lock, with lock retries and a change list.

The file runs statement by statement (split by pglast, db/deploy/statements.py) inside one explicit
transaction, so any failure names its line in the file and still rolls everything back. Statements
that cannot run in a transaction block (a continuous aggregate's first refresh) run after the
commit, one by one, in autocommit; only for a metrics_daily that is new, never on a no-op deploy.

No orphans: the session asks the server to check the client socket while a statement runs, so a
client killed mid-apply (kill -9, a lost host) does not leave its statement, its locks and the
migration lock behind until statement_timeout; SIGTERM cancels the running statement and stops
(db/deploy/interrupt.py).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from db.catalog.capabilities import detect_capabilities
from db.catalog.snapshot import diff_catalogs, snapshot_catalog
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import mask_url
from db.deploy.history import HistoryRecord, record_run
from db.deploy.interrupt import Interruption, cancel_on_sigterm, interrupted_error
from db.deploy.lock import hold_migration_lock
from db.deploy.statements import Statement, error_line, split_file
from db.errors import ApplyFailed, ConnectionFailed
from db.schema.master_file import checksum, read_schema

SNAPSHOT_SCHEMAS = ("public",)
# Errors where rolling back and trying the whole transaction again can succeed.
RETRYABLE_ERRORS: tuple[type[psycopg.Error], ...] = (
    pg_errors.LockNotAvailable,  # 55P03: lock_timeout expired
    pg_errors.DeadlockDetected,  # 40P01
    pg_errors.SerializationFailure,  # 40001
)
# GitLab-style backoff: short first sleep, doubling, capped so a retry loop never hides a stuck deploy.
BACKOFF_FIRST_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0
# Set on the apply session (PostgreSQL 14+ for the first). The server polls the client socket every
# second while a statement runs and ends the statement, its transaction and its session (with the
# migration lock) when the client is gone; without it only statement_timeout bounds an orphan. The
# keepalives make the kernel notice a client host that vanished without closing its socket.
SESSION_SETTINGS: tuple[tuple[str, str, int], ...] = (
    # (setting, value, minimum server_version_num)
    ("client_connection_check_interval", "1s", 140000),
    ("tcp_keepalives_idle", "10", 0),
    ("tcp_keepalives_interval", "5", 0),
    ("tcp_keepalives_count", "3", 0),
)
SET_SESSION_SQL = "SELECT set_config(%s, %s, false)"

MATVIEW_SQL = """
SELECT m.ispopulated,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = format('%%I.%%I', m.schemaname, m.matviewname)::regclass
                 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL) AS has_unique_index
FROM pg_matviews m
WHERE m.schemaname = %(schema)s AND m.matviewname = %(name)s
"""
CAGG_SQL = """
SELECT 1 FROM timescaledb_information.continuous_aggregates
WHERE view_schema = %(schema)s AND view_name = %(name)s
"""
RELKIND_SQL = """
SELECT relkind::text FROM pg_class
WHERE oid = to_regclass(format('%%I.%%I', %(schema)s::text, %(name)s::text))
"""
TIMESCALEDB_INSTALLED_SQL = "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
AGGREGATE_SCHEMA, AGGREGATE_NAME = "public", "metrics_daily"
# The table form's full rebuild (a NULL window: every day); its windowed refresh is db/deploy/metrics.py.
FULL_TABLE_REFRESH = "SELECT * FROM public.refresh_metrics_daily(NULL)"


@dataclass(frozen=True)
class Change:
    """One catalog object the run created, changed or dropped."""

    action: str  # created | changed | dropped
    kind: str
    name: str
    detail: str = ""


@dataclass
class PostCommitStep:
    """A statement run after the commit in autocommit (it cannot run in a transaction block)."""

    name: str
    statement: str
    status: str = "pending"  # ok | failed | skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass
class ApplyResult:
    """What one apply did (or, for a dry run, would do)."""

    environment: str
    checksum: str
    mode: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    seconds: float = 0.0
    attempts: int = 1
    history_id: int | None = None
    post_commit_steps: list[PostCommitStep] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    statements: int = 0  # statements in the file (the whole-file path) or steps in the plan
    outcome: str = "running"  # committed | rolled back (dry run) | failed, rolled back | ...
    method: str = "file"  # file: the whole file in one transaction | plan: planned steps (plan_apply.py)
    plan_checksum: str = ""
    steps: list[dict[str, str]] = field(default_factory=list)  # executed steps: SQL, lock, seconds, wait

    @property
    def objects_changed(self) -> int:
        return len(self.changes)

    def counts(self) -> dict[str, int]:
        """Number of changes per action, e.g. {'created': 120}."""
        out: dict[str, int] = {}
        for change in self.changes:
            out[change.action] = out.get(change.action, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "objects_changed": self.objects_changed}


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
) -> ApplyResult:
    """Apply the master file (or `sql_text`) in one transaction; raise MigrationLocked or ApplyFailed.

    `lock_retries` is how many times a lock timeout is retried after the first attempt.
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
            return _apply_locked(
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
    finally:
        conn.close()


def prepare_session(conn: psycopg.Connection) -> None:
    """Apply SESSION_SETTINGS that this server knows (client_connection_check_interval needs 14+)."""
    version = conn.info.server_version
    for name, value, minimum in SESSION_SETTINGS:
        if version >= minimum:
            conn.execute(SET_SESSION_SQL, (name, value))


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
                    f"{mask_url((str(exc).strip().splitlines() or [type(exc).__name__])[0])}",
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


def changes_between(before: dict, after: dict) -> list[Change]:
    """The objects that appear, differ or disappear going from snapshot `before` to `after`."""
    actions = {"missing": "created", "changed": "changed", "unexpected": "dropped"}
    return [
        Change(
            action=actions[d.status],
            kind=d.kind,
            name=d.name,
            detail=d.detail if d.status == "changed" else "",
        )
        for d in diff_catalogs(expected=after, actual=before)
    ]


def run_post_commit_steps(conn: psycopg.Connection, result: ApplyResult) -> list[PostCommitStep]:
    """Build a new metrics_daily after commit; an existing one is left to its own schedule."""
    steps = plan_post_commit_steps(conn, result)
    for step in steps:
        if step.status == "skipped":
            continue
        clock = time.monotonic()
        try:
            conn.execute(step.statement)  # type: ignore[arg-type]  # built from constants above
            step.status = "ok"
        except psycopg.Error as exc:
            step.status = "failed"
            step.detail = mask_url(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        step.seconds = round(time.monotonic() - clock, 3)
    return steps


def metrics_daily_kind(conn: psycopg.Connection) -> str | None:
    """'cagg', 'table' or 'matview' (what metrics_daily is here, from the catalog); None if absent."""
    params = {"schema": AGGREGATE_SCHEMA, "name": AGGREGATE_NAME}
    if conn.execute(TIMESCALEDB_INSTALLED_SQL).fetchone() and conn.execute(CAGG_SQL, params).fetchone():
        return "cagg"
    row = conn.execute(RELKIND_SQL, params).fetchone()
    return {"r": "table", "m": "matview"}.get(row[0]) if row else None


def metrics_daily_refresh(conn: psycopg.Connection) -> tuple[str, str] | None:
    """(kind, the statement that refreshes all of metrics_daily), from the catalog; None if absent."""
    kind = metrics_daily_kind(conn)
    qualified = f"{AGGREGATE_SCHEMA}.{AGGREGATE_NAME}"
    if kind == "cagg":
        return "cagg", f"CALL refresh_continuous_aggregate('{qualified}', NULL, NULL)"
    if kind == "table":
        return "table", FULL_TABLE_REFRESH
    if kind is None:
        return None
    populated, has_unique_index = conn.execute(
        MATVIEW_SQL, {"schema": AGGREGATE_SCHEMA, "name": AGGREGATE_NAME}
    ).fetchone() or (False, False)
    # CONCURRENTLY keeps the view readable during the refresh but needs data and a unique index.
    concurrently = "CONCURRENTLY " if populated and has_unique_index else ""
    return "matview", f"REFRESH MATERIALIZED VIEW {concurrently}{qualified}"


def plan_post_commit_steps(conn: psycopg.Connection, result: ApplyResult) -> list[PostCommitStep]:
    """What metrics_daily needs after this commit: a first build when it is new, else nothing.

    A deploy never refreshes the whole history: the table form is kept current inside its window by
    the refresh-metrics schedule, a continuous aggregate by its policy. The first build of the table
    is done by the master file itself (its DO block backfills in the same transaction), so only a
    planned apply, whose CREATE TABLE comes from the catalog and is empty, backfills after commit.
    """
    found = metrics_daily_refresh(conn)
    if found is None:
        return []
    kind, statement = found
    created = {c.kind for c in result.changes if c.action == "created" and _is_aggregate(c.name)}
    label = {"cagg": "continuous aggregate", "table": "table", "matview": "materialized view"}[kind]
    if kind == "cagg" and "cagg" in created:
        return [PostCommitStep("first refresh of continuous aggregate metrics_daily", statement)]
    if kind == "table" and "table" in created and result.method == "plan":
        return [PostCommitStep("first build (full backfill) of table metrics_daily", statement)]
    if kind == "matview" and "matview" in created:
        return [PostCommitStep("first refresh of materialized view metrics_daily", statement)]
    why = {
        "cagg": "its refresh policy keeps it current",
        "table": "built by the master file in the same transaction"
        if "table" in created
        else "refreshed inside its window by the refresh-metrics schedule",
        "matview": "not new; refresh it by hand: the master file turns it into a table",
    }[kind]
    return [PostCommitStep(f"refresh of {label} metrics_daily", statement, status="skipped", detail=why)]


def _is_aggregate(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == AGGREGATE_NAME


def refuse_transaction_control(text: str) -> None:
    """A file with its own BEGIN/COMMIT would end our transaction early and lose all-or-nothing."""
    try:
        from pglast import parser  # C parser, a few ms even for a large file

        statements = parser.parse_sql(text)
    except Exception:
        return  # the server reports syntax errors with their position; let it
    for raw in statements:
        kind = type(raw.stmt).__name__
        if kind == "TransactionStmt" or (kind == "DoStmt" and _do_block_ends_transaction(text, raw)):
            line = text.count("\n", 0, raw.stmt_location or 0) + 1
            raise ApplyFailed(
                f"the schema file controls transactions itself (BEGIN/COMMIT near line {line})",
                hint="remove BEGIN/COMMIT/ROLLBACK (also inside DO blocks): schemaflow runs the whole "
                "file in one transaction",
            )


# PL/pgSQL's COMMIT and ROLLBACK: inside the one transaction a DO block running them fails with
# "invalid transaction termination", but only after preflight and a backup.
_PLPGSQL_TRANSACTION_STATEMENTS = ('"PLpgSQL_stmt_commit"', '"PLpgSQL_stmt_rollback"')


def _do_block_ends_transaction(text: str, raw: Any) -> bool:
    from pglast import parse_plpgsql

    start = raw.stmt_location or 0
    source = text[start : start + raw.stmt_len] if raw.stmt_len else text[start:]
    lowered = source.lower()
    if "commit" not in lowered and "rollback" not in lowered:
        return False  # parsing every DO block of a large file would cost a noticeable fraction of a second
    try:
        tree = json.dumps(parse_plpgsql(source))  # only PL/pgSQL blocks parse
    except Exception:
        return False
    return any(name in tree for name in _PLPGSQL_TRANSACTION_STATEMENTS)


def backoff_seconds(attempt: int) -> float:
    """Sleep before retry `attempt`+1: doubling from 0.2 s with jitter, capped at 5 s."""
    base = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (attempt - 1))
    return round(base * random.uniform(0.8, 1.2), 3)


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
        **extra,
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
