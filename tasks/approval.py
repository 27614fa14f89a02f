"""Approval of the exact plan inside a migrate run: compute it, publish it, pause for a person.

For an environment with `require_approval = true` the run computes the Plan (db/plan/), publishes it
as the `migrate-<env>-plan` artifact and pauses with Prefect's `pause_flow_run(wait_for_input=...)`:
the run's Resume button opens the form of tasks/approval_form.py (the plan itself, an approve/reject
decision with no default, the hazards to allow picked from the plan's list, a reason). After the
answer the plan is computed again; if the live catalog moved in the meantime (its checksum differs)
the new plan is published and the run asks again. Rejection or no answer within `approval_timeout`
ends the run with nothing changed. The approved plan goes to migrate's one apply path
(db/run/plan_apply.py), which plans once more after the backup and runs only if it is still that
plan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from prefect import task

from db.connection.environments import Environment, approval_seconds
from db.errors import CheckFailed
from db.plan.model import Plan
from db.plan.render import render_markdown
from tasks.approval_form import ApprovalForm, approval_form_for
from tasks.reporting import artifact_key, in_run, run_logger

# Re-plans allowed when the catalog keeps changing under a pending approval: then stop, changed nothing.
MAX_APPROVAL_ROUNDS = 3
WHOLE_FILE = "as the whole master file in one transaction (none of its tables exists: nobody to block)"
STEP_BY_STEP = "step by step (db/deploy/execute.py)"
RESHAPE = (
    "as the whole master file in one transaction, because metrics_daily changes form: the file carries "
    "its rows over while holding AccessExclusiveLock on listener_events until commit (hazards "
    "blocks_writes and blocks_reads: allow them to approve)"
)
EXPECTATIONS_BEFORE = (
    "not measured before the change: the Great Expectations suites take tens of seconds on a live "
    "database, so they run once, in verification after the change"
)


class ApprovalRejected(CheckFailed):
    """A reviewer said no: the run ends, nothing changed."""


@dataclass(frozen=True)
class Approval:
    """Who approved which plan, how, and why: what the report and migration_history record."""

    plan: Plan
    source: str  # "prefect-ui" (a paused run resumed with input), "cli --yes", "cli --plan-checksum", ...
    reason: str = ""
    approved_by: str | None = None
    allowed_hazards: tuple[str, ...] = ()
    rounds: int = 1
    whole_file: bool = False  # an empty database: the master file runs whole (the plan creates everything)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_checksum": self.plan.checksum,
            "source": self.source,
            "reason": self.reason,
            "approved_by": self.approved_by,
            "allowed_hazards": list(self.allowed_hazards),
            "rounds": self.rounds,
            "whole_file": self.whole_file,
        }


def approval_form(plan: Plan, env: Environment) -> type[ApprovalForm]:
    """The Resume form for `plan` (tasks/approval_form.py): its hazard choices are the plan's own, plus
    blocks_writes and blocks_reads when migrate's apply will run it as a reshape of metrics_daily."""
    from db.plan.reshape import RESHAPE_STEP, reshapes_aggregate

    extra = tuple(str(h) for h in RESHAPE_STEP.hazards) if reshapes_aggregate(plan) else ()
    return approval_form_for(plan, env, extra)


def compute_plan(url: str, env: Environment, schema_text: str, scratch_url: Any = None) -> tuple[Plan, str]:
    """The plan for `url` (db/plan/database.py), and how migrate's apply will run it."""
    from db.connection.environments import scratch_setting
    from db.deploy.apply import target_is_empty
    from db.plan.database import plan_database
    from db.plan.reshape import reshapes_aggregate

    computed = plan_database(
        url, schema_text, scratch_url=scratch_setting(env, scratch_url), connect_timeout=env.connect_timeout
    )
    if target_is_empty(url, schema_text, env.connect_timeout):
        how = WHOLE_FILE
    else:
        how = RESHAPE if reshapes_aggregate(computed) else STEP_BY_STEP
    return computed, f"db/plan; runs {how}"


@task(name="plan", task_run_name="plan-{environment}")
def plan(
    url: str, environment: str, schema_text: str, dry_run: bool = False, scratch_url: Any = None
) -> Plan:
    """Compute the plan and publish it (`migrate-<env>-plan`) for the reviewer."""
    from db.connection.environments import get_environment

    logger = run_logger()
    computed, planner = compute_plan(url, get_environment(environment), schema_text, scratch_url)
    logger.info(
        "plan %s: %d step(s), hazards %s (planner: %s)",
        computed.checksum[:12],
        len(computed.steps),
        sorted(computed.hazards()) or "none",
        planner,
    )
    publish_plan(computed, environment, planner, dry_run=dry_run)
    return computed


def plan_markdown(plan: Plan, environment: str, planner: str) -> str:
    """The plan artifact: what it changes, its locks, hazards and sizes, and how to approve it."""
    head = [
        f"# Plan for `{environment}`",
        "",
        f"- planner: {planner}",
        f"- computed against catalog `{plan.catalog_checksum[:12]}`, "
        f"schema file `{plan.schema_checksum[:12]}`",
        f"- expectation results before the change: {EXPECTATIONS_BEFORE}",
    ]
    head += [f"- note: {note}" for note in plan.notes]
    return "\n".join([*head, "", *touched_tables(plan), render_markdown(plan)])


def touched_tables(plan: Plan) -> list[str]:
    """The size of each relation the plan locks, from the catalog statistics: what a lock costs there."""
    sizes = {s.size.relation: s.size for s in plan.steps if s.size is not None}
    if not sizes:
        return []
    lines = ["| table touched | rows (est.) | size | chunks |", "|---|---|---|---|"]
    for name, size in sorted(sizes.items()):
        chunks = "-" if size.chunks is None else f"{size.chunks:,}"
        shown = (
            f"{size.bytes / 1048576:,.1f} MiB" if size.bytes >= 1048576 else f"{size.bytes / 1024:,.0f} KiB"
        )
        lines.append(f"| `{name}` | {size.rows_shown} | {shown} | {chunks} |")
    return [*lines, ""]


def publish_plan(plan: Plan, environment: str, planner: str, *, dry_run: bool = False) -> None:
    if not in_run():
        return
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        markdown=plan_markdown(plan, environment, planner),
        key=artifact_key(environment, "dry-run-plan" if dry_run else "plan"),
        description=f"schemaflow plan {plan.checksum[:12]} for {environment}",
    )


def request_approval(
    url: str, env: Environment, schema_text: str, first: Plan, scratch_url: Any = None
) -> Approval:
    """Pause until a person approves `first` (or a re-computed plan); raise when refused or timed out."""
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    logger = run_logger()
    current = first
    for round_number in range(1, MAX_APPROVAL_ROUNDS + 1):
        logger.warning(
            "waiting up to %s for approval of plan %s (%d step(s)): open this run in the Prefect UI, "
            "press Resume, read the plan in the form and choose approve or reject",
            env.approval_timeout,
            current.checksum[:12],
            len(current.steps),
        )
        try:
            answer = pause_flow_run(
                wait_for_input=approval_form(current, env),
                timeout=int(approval_seconds(env.approval_timeout)),
                poll_interval=2,
                key=f"approve-{current.checksum[:12]}-{round_number}",
            )
        except FlowPauseTimeout:
            raise CheckFailed(
                f"no approval of plan {current.checksum[:12]} within {env.approval_timeout}; "
                "nothing was changed",
                hint="trigger the deployment again and approve the plan on the paused run within the time",
            ) from None
        if not answer.approve:
            raise ApprovalRejected(
                f"plan {current.checksum[:12]} was rejected{': ' + answer.reason if answer.reason else ''}; "
                "nothing was changed",
                hint="change the master file or the database as agreed, then trigger the deployment again",
            )
        refuse_unallowed_hazards(current, env, answer.allow_hazards)
        again, planner = compute_plan(url, env, schema_text, scratch_url)
        if again.catalog_checksum == current.catalog_checksum and again.checksum == current.checksum:
            return Approval(
                plan=current,
                source="prefect-ui",
                reason=answer.reason,
                approved_by=approver_of_current_run(),
                allowed_hazards=tuple(answer.allow_hazards),
                rounds=round_number,
            )
        logger.warning(
            "the database changed after plan %s was computed (catalog %s, now %s): asking again for plan %s",
            current.checksum[:12],
            current.catalog_checksum[:12],
            again.catalog_checksum[:12],
            again.checksum[:12],
        )
        publish_plan(again, env.name, f"{planner}; re-planned after a catalog change")
        current = again
    raise CheckFailed(
        f"the database kept changing while plans waited for approval ({MAX_APPROVAL_ROUNDS} rounds); "
        "nothing was changed",
        hint="find out who is changing the schema, then trigger the deployment again",
    )


def refuse_unallowed_hazards(plan: Plan, env: Environment, allowed: list[str]) -> None:
    """Stop before any change when the plan has a hazard neither the environment nor the reviewer allowed."""
    from db.deploy.hazards import allowed_hazards

    allowances = {str(h) for h in allowed_hazards(getattr(env, "allow_hazards", ()), allowed)}
    blocked = plan.steps_with_hazards_not_in(allowances)
    if blocked:
        names = sorted({str(h) for s in blocked for h in s.hazards} - allowances)
        steps = "; ".join(f"{s.action} {s.kind} {s.name}" for s in blocked[:5])
        raise CheckFailed(
            f"plan {plan.checksum[:12]} has hazard(s) {', '.join(names)} that were not allowed ({steps}); "
            "nothing was changed",
            hint=f"run it again and tick {', '.join(names)} under allow_hazards if the steps are fine",
        )


def approver_of_current_run() -> str | None:
    """Who resumed the run, where Prefect records it (Prefect Cloud); None on a Prefect OSS server."""
    from prefect.runtime import flow_run

    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            run = client.read_flow_run(flow_run.id)
        created_by = getattr(run.state, "created_by", None) if run.state else None
        return str(getattr(created_by, "display_value", "") or "") or None
    except Exception:
        return None


def cli_approval(plan: Plan, source: str, reason: str = "") -> Approval:
    """An approval given on the CLI (after the plan was shown, or pinned by --plan-checksum)."""
    return Approval(plan=plan, source=source, reason=reason, approved_by=_os_user())


def _os_user() -> str | None:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or None


def approve(
    url: str,
    env: Environment,
    schema_text: str,
    computed: Plan,
    plan_checksum: str | None,
    approved_via: str | None = None,
    scratch_url: Any = None,
) -> Approval:
    """The approval of `computed`: pinned by the caller's checksum (CLI), implied when empty, else asked.

    `approved_via`: how the CLI took the approval of that checksum (--yes, a typed yes, ...).
    """
    from db.deploy.apply import target_is_empty
    from db.versions.deploy import migration_files, refuse_pending_one_offs

    empty = target_is_empty(url, schema_text, env.connect_timeout)
    if not empty:  # an empty database baselines its one-offs; a live one would run them unapproved
        refuse_pending_one_offs(
            url, migration_files(env.migrations_dir), environment=env.name,
            allow_out_of_order=env.allow_out_of_order, connect_timeout=env.connect_timeout,
        )  # fmt: skip
    approval = _approval(url, env, schema_text, computed, plan_checksum, approved_via, scratch_url)
    return replace(approval, whole_file=empty)


def _approval(
    url: str,
    env: Environment,
    schema_text: str,
    computed: Plan,
    plan_checksum: str | None,
    approved_via: str | None,
    scratch_url: Any = None,
) -> Approval:
    if plan_checksum:
        if plan_checksum != computed.checksum:
            raise CheckFailed(
                f"the plan is {computed.checksum[:12]}, not the approved {plan_checksum[:12]}: the database "
                "or the master file changed since it was reviewed; nothing was changed",
                hint=f"review the new plan (schemaflow plan --env {env.name}) and approve its checksum",
            )
        return cli_approval(computed, f"cli ({approved_via or 'plan checksum'})")
    if computed.is_empty:
        return Approval(plan=computed, source="empty plan: nothing to approve")
    return request_approval(url, env, schema_text, computed, scratch_url)


def record_approval(url: str, env: Environment, history_id: int, approval: Approval) -> None:
    """Add the approval (plan checksum, reason, approver, how) to the run's migration_history row."""
    from db.connection.connect import connect
    from db.deploy.history import record_approval as write_approval

    with connect(url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        write_approval(
            conn,
            history_id,
            plan_checksum=approval.plan.checksum,
            reason=approval.reason,
            approved_by=approval.approved_by,
            source=approval.source,
        )
    run_logger().info(
        "approval of plan %s (%s) recorded in migration_history id %d",
        approval.plan.checksum[:12],
        approval.source,
        history_id,
    )
