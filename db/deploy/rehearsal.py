"""A dry run of a live database's plan: the real run's transaction, rolled back.

A reviewer acts on what the dry run says, so it runs what it can on the data instead of listing the
plan: the transactional steps run under the migration lock with the environment's lock_timeout,
statement_timeout and retries (db/deploy/execute.py dry_run), and the transaction is rolled back. A
step the data refuses (a NOT NULL column over NULL rows, a UNIQUE index over duplicates) fails the dry
run exactly as it would fail the real one. Online steps cannot run inside that transaction: they are
marked "not rehearsed on the data". A plan the hazard gate would stop is not rehearsed at all: taking
locks the environment does not allow is what the gate exists to prevent, so the outcome says the real
run would be refused and how to allow it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT
from db.deploy.execute import ExecutionResult, execute_plan
from db.deploy.hazards import allowed_hazards
from db.deploy.result import ApplyResult
from db.errors import ApplyFailed
from db.plan.model import Hazard, Plan
from db.plan.render import describe_step


def rehearse_plan(
    url: str,
    plan: Plan,
    result: ApplyResult,
    *,
    environment: str,
    allow_hazards: Iterable[str],
    lock_timeout: str,
    statement_timeout: str,
    lock_retries: int,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    clock: float | None = None,
) -> ApplyResult:
    """Run `plan` rolled back and fill `result` with what ran; raise ApplyFailed for a failing step."""
    clock = time.monotonic() if clock is None else clock
    # fails_on_data is what a rehearsal exists to prove: the step runs, and fails with the server's error.
    allow_hazards = [*allow_hazards, str(Hazard.FAILS_ON_DATA)]
    allowed = allowed_hazards(allow_hazards)
    blocked = plan.steps_with_hazards_not_in(allowed)
    if blocked:
        result.steps += _unrehearsed_rows(plan, "not rehearsed: the hazard gate stops this plan")
        kinds = sorted({str(h) for step in blocked for h in step.hazards if h not in allowed})
        result.outcome = (
            f"dry run not rehearsed: {len(blocked)} step(s) have hazards not allowed in {environment} "
            f"({', '.join(kinds)}), so the real run would refuse the plan and nothing ran; rehearse it "
            f"with {' '.join('--allow-hazard ' + k for k in kinds)}"
        )
        result.seconds = round(time.monotonic() - clock, 3)
        return result
    if plan.is_empty:
        result.outcome = "rolled back (dry run): the plan is empty, nothing to run"
        result.seconds = round(time.monotonic() - clock, 3)
        return result
    try:
        execution = execute_plan(
            url, plan, environment=environment, allow_hazards=allow_hazards, lock_timeout=lock_timeout,
            statement_timeout=statement_timeout, lock_retries=lock_retries,
            connect_timeout=connect_timeout, dry_run=True,
        )  # fmt: skip
    except ApplyFailed as error:
        if isinstance(error.result, ExecutionResult):
            result.steps += error.result.rows()
        result.outcome = "failed, rolled back (dry run): nothing was changed"
        result.seconds = round(time.monotonic() - clock, 3)
        error.result = result
        raise
    result.steps += execution.rows()
    result.attempts = max(1, execution.transaction_attempts)
    result.outcome = describe_rehearsal(plan, execution)
    result.seconds = round(time.monotonic() - clock, 3)
    return result


def describe_rehearsal(plan: Plan, execution: ExecutionResult) -> str:
    """What the dry run ran, what it could not, and whether the catalog is as it was before."""
    ran = sum(1 for s in execution.steps if s.status == "rehearsed")
    online = sum(1 for s in execution.steps if s.status == "not rehearsed")
    parts = [f"rolled back (dry run): {ran} step(s) ran on the data in a transaction that was rolled back"]
    if online:
        parts.append(
            f"{online} step(s) not rehearsed on the data: they run outside a transaction "
            "(the real run runs them after the commit)"
        )
    if not execution.catalog_after:
        parts.append("the catalog was not read again (a plan without a scope)")
    elif execution.catalog_after == plan.catalog_checksum:
        same = plan.catalog_checksum[:12]
        parts.append(f"catalog checksum after the rollback equals the one before ({same}): nothing changed")
    else:
        parts.append(
            f"the catalog changed during the dry run ({plan.catalog_checksum[:12]} before, "
            f"{execution.catalog_after[:12]} after the rollback): another session changed it"
        )
    return "; ".join(parts)


def _unrehearsed_rows(plan: Plan, why: str) -> list[dict[str, str]]:
    return [
        {"step": str(n), "status": "not rehearsed", "where": "transaction" if s.transactional else "online",
         "lock": f"{s.lock} on {s.relation}" if s.lock else "-", "seconds": "0.000", "lock wait (s)": "0.000",
         "attempts": "0", "sql": " ".join(s.sql.split()), "detail": f"{why}: {describe_step(s)}"}
        for n, s in enumerate(plan.steps, 1)
    ]  # fmt: skip
