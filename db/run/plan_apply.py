"""Migrate's apply: the whole file for an empty database; for a live one, the plan, then proof.

An empty target (none of the file's tables exists, checked again under the migration lock) gets the
whole master file in one transaction as before: nobody is there to block, and it is the fastest way
to build everything. A target that has the schema's tables gets only the planned statements
(db/plan/database.py plan_database), run by the executor (db/deploy/execute.py: transactional steps
in one transaction, online steps after), and then the post-condition: planning again must give an
empty plan, or the run fails naming what is left. A no-op deploy therefore runs catalog reads only
and records a history row with 0 changes.

A run that a person approved (tasks/approval.py) takes this same path with the approved Plan: the
plan computed here, right before any change, must be that plan (same checksum, so the same live
catalog and the same file), or nothing runs; and pending one-offs stop it, since the approval
covered the plan alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line
from db.deploy.apply import (
    TargetNotEmpty,
    apply_master_schema,
    file_tables,
    record_history_row,
    target_is_empty,
)
from db.deploy.execute import ExecutionResult, execute_plan
from db.deploy.hazards import allowed_hazards, refuse_unallowed_hazards
from db.deploy.post_commit import run_post_commit_steps
from db.deploy.rehearsal import rehearse_plan
from db.deploy.result import ApplyResult, Change
from db.deploy.settle import (
    Settled,
    last_failed_run,
    repaired,
    settle_failure,
    settle_one_off_failure,
    settled_message,
)
from db.errors import ApplyFailed, CheckFailed, ConnectionFailed, HazardsNotAllowed, SchemaflowError
from db.plan.database import plan_database
from db.plan.model import Plan, Step
from db.plan.render import describe_step
from db.plan.reshape import AGGREGATE, RESHAPE_STEP, reshapes_aggregate
from db.plan.squawk import lint_plan
from db.schema.master_file import checksum
from db.versions.backfill import BackfillNotConverged
from db.versions.deploy import (
    baseline_one_offs,
    migration_files,
    refuse_pending_one_offs,
    run_one_offs,
)
from db.versions.run import Limits

# A refusal's claim about its own step, dropped when the run had already committed one-offs.
NOTHING_CHANGED = re.compile(r"[;,]?\s*(?:and\s+)?nothing was changed", re.IGNORECASE)

PAST = {"create": "created", "drop": "dropped"}  # a step's action as the change report words it
MAX_LISTED_LEFT = 10
SETTLE_ATTEMPTS, SETTLE_PAUSE_SECONDS = 5, 2.0  # reading the catalog again after a lost server


def apply_schema(
    url: str,
    text: str,
    *,
    environment: str,
    lock_timeout: str,
    statement_timeout: str,
    lock_retries: int,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    dry_run: bool = False,
    allow_hazards: Iterable[str] = (),
    record_history: bool = True,
    migrations_dir: Path | str | None = None,
    allow_out_of_order: bool = False,
    restore_command: str | None = None,
    log: Callable[[str], None] | None = None,
    approved: Plan | None = None,
    scratch_url: str | None = None,
) -> ApplyResult:
    """Apply `text` to `url` the way its state calls for (see the module docstring).

    One-off files in `migrations_dir` (default db/migrations) run first, or are baselined on an
    empty target (db/versions/deploy.py); `restore_command` is recorded with each one-off it runs.
    `approved`: the plan a person approved; only that plan may run. `scratch_url`: where the
    expected side is built (db/catalog/scratch.py; None: schemaflow_scratch on the target's server).
    """
    limits = {
        "lock_timeout": lock_timeout,
        "statement_timeout": statement_timeout,
        "lock_retries": lock_retries,
    }
    files = migration_files(migrations_dir)
    current = None
    if approved is not None:
        current = plan_database(url, text, scratch_url=scratch_url, connect_timeout=connect_timeout)
        refuse_unless_approved(current, approved)
    if target_is_empty(url, text, connect_timeout):
        baselined = baseline_one_offs(
            url, text, files, environment=environment, connect_timeout=connect_timeout
        )
        # Checked again under the migration lock: tables built since (another migrate that just
        # finished, a person) make this a live database, planned like any other.
        try:
            return apply_master_schema(
                url, text, environment=environment, dry_run=dry_run, connect_timeout=connect_timeout,
                record_history=record_history, absent_tables=file_tables(text), then=baselined,
                **limits,  # type: ignore[arg-type]
            )  # fmt: skip
        except TargetNotEmpty as grown:
            if log:
                shown = ", ".join(grown.present[:3]) + (", ..." if len(grown.present) > 3 else "")
                log(f"the database gained {len(grown.present)} of the schema's tables ({shown}) "
                    "before the migration lock: planning instead")  # fmt: skip
        if approved is not None:  # approved against the empty database: say so, by the usual check
            current = plan_database(url, text, scratch_url=scratch_url, connect_timeout=connect_timeout)
            refuse_unless_approved(current, approved)
    if approved is not None:
        refuse_pending_one_offs(
            url, files, environment=environment, allow_out_of_order=allow_out_of_order,
            connect_timeout=connect_timeout,
        )  # fmt: skip
    started, clock = datetime.now(UTC), time.monotonic()
    # A run that follows a failed one says in its report what it finished of that one's work.
    previous = None if dry_run or not record_history else last_failed_run(url, environment, connect_timeout)
    try:  # pending one-offs first: the plan is computed against what they leave
        one_offs = run_one_offs(
            url, files, environment=environment, dry_run=dry_run, connect_timeout=connect_timeout,
            limits=Limits(lock_timeout, statement_timeout, lock_retries),
            allow_out_of_order=allow_out_of_order, restore_command=restore_command, log=log,
        )  # fmt: skip
    except ApplyFailed as error:
        failed = ApplyResult(environment=environment, checksum=checksum(text), mode="", dry_run=dry_run)
        if dry_run:
            failed.outcome = "failed, rolled back (dry run): nothing was changed"
            error.result = failed
            raise
        _settle_one_offs(url, failed, error, (started, clock), record_history, connect_timeout)
        raise
    # Under an approval no one-off ran (refused above), so the plan last checked against it is current.
    try:
        plan = current or plan_database(url, text, scratch_url=scratch_url, connect_timeout=connect_timeout)
    except SchemaflowError as error:
        if dry_run or not one_offs.changes:
            raise
        # The one-offs committed: a refusal of the plan now (a planner gap, a file that no longer
        # builds) must not read "nothing was changed", and the run needs its history row.
        failed = ApplyResult(environment=environment, checksum=checksum(text), mode="", dry_run=False)
        one_offs.merge_into(failed)
        raise _failed_after_one_offs(
            url, failed, error, (started, clock), record_history, connect_timeout
        ) from error
    if reshapes_aggregate(plan):
        # metrics_daily changes form (materialized view -> table -> continuous aggregate): a catalog
        # diff can only drop and re-create it, empty; the file's guarded DO block carries every
        # bucket over and proves it with a checksum, in one transaction. Once per database, and
        # a declared hazard: that transaction holds listener_events against every writer.
        if not dry_run:
            reshape = Plan(steps=(RESHAPE_STEP,), schema_checksum=plan.schema_checksum,
                           catalog_checksum=plan.catalog_checksum)  # fmt: skip
            refuse_unallowed_hazards(reshape, allowed_hazards(allow_hazards), environment)
        return apply_master_schema(
            url, text, environment=environment, dry_run=dry_run, connect_timeout=connect_timeout,
            record_history=record_history, **limits,  # type: ignore[arg-type]
        )  # fmt: skip
    result = ApplyResult(
        environment=environment, checksum=checksum(text), mode=plan.mode, dry_run=dry_run, method="plan",
        statements=len(plan.steps), plan_checksum=plan.checksum,
        changes=[_change(s) for s in plan.steps],
    )  # fmt: skip
    # Squawk's view of the plan's SQL, less what the executor does by construction (db/plan/squawk.py):
    # reported with the run; the hazard gate, not Squawk, decides what may run.
    result.notices = [f"squawk: {finding.format()}" for finding in lint_plan(plan)]
    one_offs.merge_into(result)
    if dry_run:
        rehearsed = rehearse_plan(
            url, plan, result, environment=environment, allow_hazards=allow_hazards,
            connect_timeout=connect_timeout, clock=clock, **limits,  # type: ignore[arg-type]
        )  # fmt: skip
        if one_offs.changes and not plan.is_empty:
            # The one-offs' transaction was rolled back before the plan was computed, so the plan is
            # the one for the catalog without them; the real run plans again once they committed.
            rehearsed.outcome += (
                f"; the master file's {len(plan.steps)} step(s) were planned against the catalog before "
                f"the {len(one_offs.changes)} pending one-off(s) (rolled back): the real run plans again "
                "after they commit, so it may run fewer (what a one-off already did, e.g. a rename, is "
                "not planned again)"
            )
        return rehearsed
    if one_offs.rows:
        _refuse_hazards_after_one_offs(url, plan, result, one_offs.rows, allow_hazards, environment,
                                       (started, clock), record_history, connect_timeout)  # fmt: skip
    try:
        execution = execute_plan(
            url, plan, environment=environment, allow_hazards=allow_hazards, connect_timeout=connect_timeout,
            **limits,  # type: ignore[arg-type]
        )  # fmt: skip
    except ApplyFailed as error:
        if isinstance(error.result, ExecutionResult):
            result.steps = [*one_offs.rows, *error.result.rows()]
        settled = _settle(url, plan, result, error, (started, clock), record_history, connect_timeout)
        if settled.nothing_changed:
            result.outcome = "failed, rolled back: nothing was changed"
        raise
    result.steps = [*one_offs.rows, *execution.rows()]
    result.attempts = max(1, execution.transaction_attempts)
    try:
        if touches_aggregate(plan):  # its data is (re)built after the commit, as on the whole-file path
            with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
                result.post_commit_steps = run_post_commit_steps(conn, result)
        # An empty plan is its own proof (nothing ran since it was computed); otherwise plan again.
        # Only whether steps are left matters here: proving them would raise after the commit.
        left = (
            plan
            if plan.is_empty
            else plan_database(
                url, text, scratch_url=scratch_url, connect_timeout=connect_timeout, prove=False
            )
        )
    except (ConnectionFailed, psycopg.OperationalError) as lost:
        # The steps have run: a retry of the whole apply would plan again, find them done, and
        # report a run that changed nothing (or, under an approval, refuse a "changed" database).
        result.outcome = "failed: the steps ran, the proof did not (see the error)"
        unproven = ApplyFailed(
            f"the plan's {len(plan.steps)} step(s) ran, but checking the result failed: "
            f"{getattr(lost, 'message', None) or first_error_line(lost)}",
            hint="run `schemaflow drift` (or migrate again) once the server answers: the plan is "
            "computed from what is there now",
        )
        _settle(url, plan, result, unproven, (started, clock), record_history, connect_timeout)
        raise unproven from None
    if not left.is_empty:
        leftover = _left_over(left)
        settled = _settle(url, plan, result, leftover, (started, clock), record_history, connect_timeout)
        result.outcome = f"failed: the post-condition found differences left; {settled.describe()}"
        raise leftover
    result.outcome = "committed"
    if previous is not None:
        result.repaired = repaired(previous, result.steps)
    _record(url, result, started, clock, "success", record_history, connect_timeout)
    return result


def _refuse_hazards_after_one_offs(
    url: str,
    plan: Plan,
    result: ApplyResult,
    rows: list[dict[str, str]],
    allow_hazards: Iterable[str],
    environment: str,
    times: tuple[datetime, float],
    record_history: bool,
    connect_timeout: int,
) -> None:
    """The hazard gate, when one-offs already committed: say so, and record the run as failed."""
    try:
        refuse_unallowed_hazards(plan, allowed_hazards(allow_hazards), environment)
    except HazardsNotAllowed as refused:
        result.steps = list(rows)
        result.outcome = (
            f"failed: {len(rows)} one-off migration(s) committed; the plan's hazards are not allowed, so "
            "none of its steps ran"
        )
        message = (
            f"{refused.message}; the pending one-off migration(s) ran first and committed ({len(rows)}), "
            "the master file's steps did not run"
        )
        with suppress(SchemaflowError, psycopg.Error):
            _record(url, result, *times, "failed", record_history, connect_timeout, error=message)
        raise HazardsNotAllowed(message, hint=refused.hint, steps=refused.steps) from None


def refuse_unless_approved(current: Plan, approved: Plan) -> None:
    """CheckFailed, before any change, when the plan computed now is not the one a person approved."""
    if current.checksum == approved.checksum:
        return
    moved = []
    if current.schema_checksum != approved.schema_checksum:
        moved.append("the schema file")
    if current.catalog_checksum != approved.catalog_checksum:
        moved.append(
            f"the database (catalog {approved.catalog_checksum[:12]}, now {current.catalog_checksum[:12]})"
        )
    what = " and ".join(moved) or "the planner's output for the same file and database"
    raise CheckFailed(
        f"plan {approved.checksum[:12]} was approved, but the plan is now {current.checksum[:12]}: "
        f"{what} changed since; nothing was changed",
        hint="review the new plan and approve it: trigger the deployment again (it shows the plan), "
        "or run `schemaflow plan --json` for the checksum to pass with --plan-checksum",
    )


def _change(step: Step) -> Change:
    return Change(action=PAST.get(step.action, "changed"), kind=step.kind, name=step.name,
                  detail=describe_step(step))  # fmt: skip


def touches_aggregate(plan: Plan) -> bool:
    """The plan creates or changes metrics_daily: refresh it after the commit (a no-op plan never does)."""
    return any(AGGREGATE in step.name for step in plan.steps)


def _left_over(left: Plan) -> ApplyFailed:
    listed = "; ".join(describe_step(s) for s in left.steps[:MAX_LISTED_LEFT])
    more = f" and {len(left.steps) - MAX_LISTED_LEFT} more" if len(left.steps) > MAX_LISTED_LEFT else ""
    return ApplyFailed(
        f"the plan ran, but {len(left.steps)} difference(s) remain against the schema file: {listed}{more}",
        hint="run `schemaflow drift` to see them; run migrate again, or report the planner gap with the "
        "plan artifact",
    )


def _settle(
    url: str,
    plan: Plan,
    result: ApplyResult,
    error: ApplyFailed,
    began: tuple[datetime, float],
    enabled: bool,
    connect_timeout: int,
) -> Settled:
    """Say in `error`, `result` and the history row which steps committed, proven by the catalog.

    A server that restarted (the likely cause of a lost connection) is given a few seconds to answer
    again; after that the history row is left out and the report says so.
    """
    settled = settle_failure(url, plan, result, connect_timeout)
    for _ in range(SETTLE_ATTEMPTS - 1):
        if settled.catalog_now:
            break
        time.sleep(SETTLE_PAUSE_SECONDS)
        settled = settle_failure(url, plan, result, connect_timeout)
    error.message = settled_message(error.message, settled)
    result.outcome = f"failed: {settled.describe()}"
    error.result = result
    _record_failure(url, result, began, enabled, connect_timeout, error.message, settled)
    return settled


def _settle_one_offs(
    url: str,
    result: ApplyResult,
    error: ApplyFailed,
    began: tuple[datetime, float],
    enabled: bool,
    connect_timeout: int,
) -> None:
    """A failed one-off: name in `error`, `result` and the history row the one-offs this run applied and
    the backfill batches that committed, read back from schemaflow's records once the server answers.

    The failure may be the server itself going away (a restart mid-backfill): its error is the one
    that must show, never the reconnect's, and a lost connection is not retried as if nothing ran.
    """
    settled = None
    for attempt in range(SETTLE_ATTEMPTS):
        settled = settle_one_off_failure(url, began[0], _failed_one_off(error), connect_timeout)
        if settled is not None:
            break
        if attempt < SETTLE_ATTEMPTS - 1:
            time.sleep(SETTLE_PAUSE_SECONDS)
    if settled is None:
        result.outcome = (
            "failed: a one-off migration failed and the server did not answer afterwards to say what "
            "committed; `schemaflow versions` shows it once the server is back"
        )
    else:
        error.message = f"{error.message}; {settled.describe()}"
        result.steps = [*settled.committed, *settled.not_committed]
        partly = isinstance(error, BackfillNotConverged) or any(
            row["status"] == "partly done" for row in settled.committed
        )
        what = "a one-off backfill is partly done" if partly else "a one-off migration failed"
        result.outcome = f"failed: {what}; {settled.describe()}"
    error.result = result
    _record_failure(url, result, began, enabled, connect_timeout, error.message, settled)


def _failed_after_one_offs(
    url: str,
    result: ApplyResult,
    error: SchemaflowError,
    began: tuple[datetime, float],
    enabled: bool,
    connect_timeout: int,
) -> ApplyFailed:
    """The master's plan could not be made after this run's one-offs committed: an ApplyFailed that
    names them (the plan's own error said nothing had changed, which was true only of the plan),
    with the report and a history row counting them as what committed."""
    names = ", ".join(change.name for change in result.changes)
    reason = NOTHING_CHANGED.sub("", error.message).rstrip(" ;,")
    message = (
        f"one-off(s) {names} committed, then the master file's plan could not be made: {reason}; "
        "the master's steps did not run; the next run plans again from what the one-offs left"
    )
    result.outcome = f"failed: {message}"
    failure = ApplyFailed(message, hint=error.hint)
    failure.result = result
    try:
        _record(
            url, result, *began, "failed", enabled, connect_timeout, error=message, committed=result.changes
        )
    except (SchemaflowError, psycopg.Error, OSError):
        result.notices.append("the failed run's history row could not be written: the server did not answer")
    return failure


def _failed_one_off(error: ApplyFailed) -> str:
    """The file a one-off failure names (its messages start with it), for the settled report."""
    found = re.search(r"\d{14}_[\w.-]+?\.sql", error.message)
    return found[0] if found else "the failing one-off"


def _record_failure(
    url: str,
    result: ApplyResult,
    began: tuple[datetime, float],
    enabled: bool,
    connect_timeout: int,
    message: str,
    settled: Settled | None,
) -> None:
    try:
        _record(url, result, *began, "failed", enabled, connect_timeout, error=message, settled=settled)
    except (SchemaflowError, psycopg.Error, OSError):
        result.notices.append("the failed run's history row could not be written: the server did not answer")


def _record(
    url: str,
    result: ApplyResult,
    started: datetime,
    clock: float,
    outcome: str,
    enabled: bool,
    connect_timeout: int,
    error: str | None = None,
    settled: Settled | None = None,
    committed: list[Change] | None = None,
) -> None:
    """`committed`: what a failed run is known to have committed, when `settled` does not say."""
    result.seconds = round(time.monotonic() - clock, 3)
    if not enabled:
        return
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        extra: dict[str, Any] = {"error_message": error[:2000]} if error else {}
        changes = result.changes if not error else settled.changes() if settled else committed or []
        extra["objects_changed"] = len(changes)
        extra["changes"] = [asdict(c) for c in changes]
        record_history_row(conn, result, started, outcome, **extra)
