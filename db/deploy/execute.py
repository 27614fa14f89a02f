"""Executing a Plan on a live database: only its statements, each under lock_timeout, online where it can.

1. The hazard gate (db/deploy/hazards.py), before any connection: a step with a hazard the
   environment does not allow stops the run untouched.
2. Transactional steps run in one transaction (all-or-nothing) with SET LOCAL lock_timeout and
   statement_timeout; a lock timeout, deadlock or serialization failure rolls it back and retries the
   whole transaction with the same backoff as apply.
3. Online steps (Step.transactional = False: CREATE INDEX CONCURRENTLY, an index built WITH
   (timescaledb.transaction_per_chunk), VALIDATE CONSTRAINT, SET NOT NULL proved by a validated
   CHECK) run after the commit, one by one in autocommit, each retried on a lock timeout. Each is
   idempotent, so a rerun after a crash resumes; an index a crash left invalid is rebuilt, and an
   index is reported done only once it is valid on its table and every chunk (db/deploy/online.py).

An empty plan runs no statement beyond catalog reads and the migration advisory lock, so it cannot
queue behind (or in front of) anybody's table locks.

A dry run is this same run with its transaction rolled back: the transactional steps run on the data
under the same locks and timeouts (so a NOT NULL column over NULL rows fails here as it would for
real), each online index is built on an empty copy of its table in that same transaction (its definition
is checked, db/deploy/online_rehearsal.py) but not on the data, and says so; the catalog is read again
after the rollback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from db.catalog.snapshot import snapshot_in_scope
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line
from db.deploy.hazards import allowed_hazards, refuse_unallowed_hazards
from db.deploy.interrupt import Interruption, cancel_on_sigterm, interrupted_error
from db.deploy.lock import hold_migration_lock
from db.deploy.lockwait import LockWaitSampler
from db.deploy.online import drop_leftover_index, index_state, is_index_build
from db.deploy.online_rehearsal import rehearse_index_definition
from db.deploy.session import RETRYABLE_ERRORS, backoff_seconds, prepare_plan_session
from db.errors import ApplyFailed
from db.plan.model import Plan, Step, snapshot_checksum
from db.progress import ProgressEvent, report

SET_SESSION_SQL = "SELECT set_config(%s, %s, false)"


@dataclass
class StepResult:
    """What one step did: its SQL, the lock it takes, how long it ran and how long it waited for locks."""

    number: int
    sql: str
    kind: str
    name: str
    action: str
    transactional: bool
    lock: str
    relation: str
    status: str = "not run"  # done | failed | not run | rehearsed | not rehearsed (dry run)
    seconds: float = 0.0
    lock_wait_seconds: float = 0.0  # sampled, see db/deploy/lockwait.py
    attempts: int = 0
    detail: str = ""

    @classmethod
    def of(cls, number: int, step: Step) -> StepResult:
        return cls(
            number=number,
            sql=step.sql,
            kind=step.kind,
            name=step.name,
            action=step.action,
            transactional=step.transactional,
            lock=str(step.lock or ""),
            relation=step.relation or "",
        )


@dataclass
class ExecutionResult:
    """What executing one plan did, step by step, for the run report and the changes artifact."""

    environment: str
    plan_checksum: str
    steps: list[StepResult] = field(default_factory=list)
    transaction_attempts: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    # A dry run's catalog checksum read again after its rollback: equal to the plan's, nothing changed.
    catalog_after: str = ""

    @property
    def statements_run(self) -> int:
        return sum(1 for s in self.steps if s.status == "done")

    def rows(self) -> list[dict[str, str]]:
        """One row per step, as the changes table artifact shows it."""
        return [
            {
                "step": str(s.number),
                "status": s.status,
                "where": "transaction" if s.transactional else "online",
                "lock": f"{s.lock} on {s.relation}" if s.lock else "-",
                "seconds": f"{s.seconds:.3f}",
                "lock wait (s)": f"{s.lock_wait_seconds:.3f}",
                "attempts": str(s.attempts),
                "sql": " ".join(s.sql.split()),
                "detail": s.detail,
            }
            for s in self.steps
        ]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def execute_plan(
    url: str,
    plan: Plan,
    *,
    environment: str = "local",
    allow_hazards: Iterable[str] = (),
    lock_timeout: str = "1s",
    statement_timeout: str = "5min",
    lock_retries: int = 3,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    dry_run: bool = False,
) -> ExecutionResult:
    """Run `plan`'s steps; raise HazardsNotAllowed before any change, ApplyFailed naming the step.

    `dry_run`: the transactional steps run and are rolled back; the online steps are not run on the
    data, an online index's definition is built on an empty copy of its table in that transaction.
    """
    refuse_unallowed_hazards(plan, allowed_hazards(allow_hazards), environment)
    clock = time.monotonic()
    result = ExecutionResult(environment=environment, plan_checksum=plan.checksum, dry_run=dry_run)
    result.steps = [StepResult.of(n, step) for n, step in enumerate(plan.steps, 1)]
    conn = connect(url, autocommit=True, connect_timeout=connect_timeout)
    try:
        prepare_plan_session(conn)
        with cancel_on_sigterm(conn) as interruption, hold_migration_lock(conn):
            if plan.is_empty:
                return _finish(result, clock)
            refuse_if_catalog_moved(conn, plan)
            sampler = LockWaitSampler(url, conn.info.backend_pid, connect_timeout)
            with sampler.running():
                run = _Run(conn, plan, result, interruption, sampler, lock_retries, sleep)
                try:
                    run.transaction(lock_timeout, statement_timeout)
                    if dry_run:
                        run.skip_online()
                        result.catalog_after = catalog_checksum_now(conn, plan)
                    else:
                        run.online(lock_timeout, statement_timeout)
                    report(ProgressEvent(PROGRESS_STEP, done=len(plan.steps), unit="steps", finished=True))
                except ApplyFailed as error:
                    report(ProgressEvent(PROGRESS_STEP, unit="steps", finished=True, failed=True))
                    error.result = _finish(result, clock)  # what ran before the failure, for the report
                    raise
    finally:
        conn.close()
    return _finish(result, clock)


PROGRESS_STEP = "plan steps"
NOT_REHEARSED = "not rehearsed on the data: runs outside a transaction"


def refuse_if_catalog_moved(conn: psycopg.Connection, plan: Plan) -> None:
    """Under the migration lock, before any step: the catalog is still the one the plan was made from.

    Planning happens before the lock is taken, so another migrate (or a person) may have changed the
    database in between; its steps would then be stale. A hand-built plan has no scope to re-read.
    """
    now = catalog_checksum_now(conn, plan)
    if now and now != plan.catalog_checksum:
        raise ApplyFailed(
            f"the database changed after plan {plan.checksum[:12]} was computed (catalog "
            f"{plan.catalog_checksum[:12]}, now {now[:12]}), perhaps by another migrate; nothing was changed",
            hint="run migrate again: it plans against the database as it is now",
        )


def catalog_checksum_now(conn: psycopg.Connection, plan: Plan) -> str:
    """The live catalog's checksum in the plan's scope ('' for a hand-built plan, which has none)."""
    if plan.scope is None:
        return ""
    return snapshot_checksum(snapshot_in_scope(conn, plan.scope))


@dataclass
class _Run:
    conn: psycopg.Connection
    plan: Plan
    result: ExecutionResult
    interruption: Interruption
    sampler: LockWaitSampler
    lock_retries: int
    sleep: Callable[[float], None]
    committed: bool = False

    def transaction(self, lock_timeout: str, statement_timeout: str) -> None:
        """Every transactional step in one transaction, retried whole on a lock timeout."""
        pairs = list(zip(self.result.steps, self.plan.steps, strict=True))
        steps = [(r, s) for r, s in pairs if s.transactional]
        # A dry run rehearses the online index definitions after the transactional steps they follow.
        definitions = [(r, s) for r, s in pairs if self.result.dry_run and is_index_build(s)]
        if not steps and not definitions:
            self.committed = True
            return
        attempt = 0
        while True:
            attempt += 1
            self.result.transaction_attempts = attempt
            current: StepResult | None = None
            try:
                with self.conn.transaction(force_rollback=self.result.dry_run):
                    self.conn.execute(
                        sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout))
                    )
                    self.conn.execute(
                        sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(statement_timeout))
                    )
                    for current, step in steps:
                        self._run_step(current, step)
                    for current, step in definitions:
                        current.detail = rehearse_index_definition(self.conn, step, current.number)
                for done, _ in steps:
                    done.status = "rehearsed" if self.result.dry_run else "done"
                self.committed = not self.result.dry_run
                return
            except psycopg.Error as exc:
                self._stop_if_interrupted()
                assert current is not None
                if isinstance(exc, RETRYABLE_ERRORS) and attempt <= self.lock_retries:
                    self.sleep(backoff_seconds(attempt))
                    continue
                current.status = "failed"
                current.detail = first_error_line(exc)
                dry = self.result.dry_run
                raise _step_failed(exc, current, attempt, committed=False, dry_run=dry) from None

    def skip_online(self) -> None:
        """A dry run's online steps: they cannot run in the rolled-back transaction, so not on the data."""
        for record, step in zip(self.result.steps, self.plan.steps, strict=True):
            if not step.transactional:
                record.status = "not rehearsed"
                record.detail = f"{NOT_REHEARSED}; {record.detail}" if record.detail else NOT_REHEARSED

    def online(self, lock_timeout: str, statement_timeout: str) -> None:
        """Each online step in autocommit after the commit, retried alone on a lock timeout."""
        try:
            for name, value in (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout)):
                self.conn.execute(SET_SESSION_SQL, (name, value))
        except psycopg.Error as exc:  # not transient: the transaction may have committed already
            raise ApplyFailed(
                f"the online steps could not start after the transaction: {first_error_line(exc)}",
                hint="run migrate again: it plans against what is there now and runs what is left",
            ) from None
        for record, step in zip(self.result.steps, self.plan.steps, strict=True):
            if step.transactional:
                continue
            attempt = 0
            while True:
                attempt += 1
                self._stop_if_interrupted()
                try:
                    self._online_step(record, step)
                    record.status = "done"
                    break
                except psycopg.Error as exc:
                    self._stop_if_interrupted()
                    if isinstance(exc, RETRYABLE_ERRORS) and attempt <= self.lock_retries:
                        self.sleep(backoff_seconds(attempt))
                        continue
                    record.status = "failed"
                    record.detail = (record.detail + "; " if record.detail else "") + first_error_line(exc)
                    raise _step_failed(exc, record, attempt, committed=True) from None

    def _online_step(self, record: StepResult, step: Step) -> None:
        if is_index_build(step):
            before = index_state(self.conn, step)
            if before.exists and not before.complete:
                # IF NOT EXISTS would keep the leftover: drop it and build the index again.
                drop_leftover_index(self.conn, step)
                record.detail = f"rebuilt: an earlier build had left it {before.describe()}"
        self._run_step(record, step)
        if is_index_build(step):
            after = index_state(self.conn, step)
            if not after.complete:
                record.status = "failed"
                raise ApplyFailed(
                    f"step {record.number}: index {step.name} is {after.describe()} after its build",
                    hint="run migrate again: the next run drops the incomplete index and builds it anew",
                )

    def _run_step(self, record: StepResult, step: Step) -> None:
        self._stop_if_interrupted()
        # For a display that listens (the CLI's live line): which step runs now, and how many are done.
        note = f"step {record.number}: {step.action} {step.kind} {step.name}"
        report(ProgressEvent(PROGRESS_STEP, record.number - 1, len(self.plan.steps), "steps", note))
        record.attempts += 1
        self.sampler.current = record.number
        started = time.monotonic()
        try:
            self.conn.execute(step.executed_sql)  # type: ignore[arg-type]  # the plan's SQL, built by the planner
        finally:
            # Unrounded: a sub-millisecond step is still a step that took time; reports round.
            record.seconds += time.monotonic() - started
            self.sampler.current = None
            record.lock_wait_seconds = self.sampler.seconds(record.number)

    def _stop_if_interrupted(self) -> None:
        if self.interruption.requested:
            raise interrupted_error(self.interruption.signal_name, committed=self.committed)


def _finish(result: ExecutionResult, clock: float) -> ExecutionResult:
    result.seconds = round(time.monotonic() - clock, 3)
    return result


def _step_failed(
    exc: psycopg.Error, record: StepResult, attempts: int, *, committed: bool, dry_run: bool = False
) -> ApplyFailed:
    statement = " ".join(record.sql.split())[:200]
    sqlstate = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else ""
    what = f"step {record.number} ({record.action} {record.kind} {record.name}: {statement})"
    gave_up = f"gave up after {attempts} attempt(s): " if isinstance(exc, pg_errors.LockNotAvailable) else ""
    if dry_run:
        if not record.transactional:  # only its definition ran, on an empty copy of the table
            what += f" (its definition, built on an empty copy of {record.relation})"
        return ApplyFailed(
            f"dry run: {what} failed: {gave_up}{first_error_line(exc)}{sqlstate}; rolled back, nothing "
            "was changed; the real run would fail the same way",
            hint="another session holds a lock on the table; retry when it has finished"
            if gave_up
            else "fix the cause (the master file, or the rows the error names) and run the dry run again",
        )
    if committed:
        return ApplyFailed(
            f"{what} failed: {gave_up}{first_error_line(exc)}{sqlstate}; the transactional steps before it "
            "were committed",
            hint="fix the cause and run migrate again: online steps are idempotent and it resumes "
            "from this step",
        )
    return ApplyFailed(
        f"{what} failed: {gave_up}{first_error_line(exc)}{sqlstate}; rolled back, nothing was changed",
        hint="another session holds a lock on the table; retry when it has finished"
        if gave_up
        else "fix the plan's cause in the master file and run again",
    )
