"""The approval form a paused production run shows: a decision a person must make, on the plan itself.

Prefect renders a RunInput model as the Resume form and its description as Markdown above it. Here:
- the description is the plan: checksum, step count, hazards and the step table (no "see the
  artifact" to chase);
- `decision` is approve or reject with no default, so Submit without choosing is refused by the
  form (a toggle defaulting to off turned an untouched Submit into a rejection);
- `reason` is required (at least 3 characters) where the environment requires approval;
- `allow_hazards` offers exactly the plan's hazards to pick from, never free text.

`approve` stays a property, so the code that reads an answer (`answer.approve`, `answer.reason`,
`answer.allow_hazards`) keeps one shape for every caller of tasks/approval.py.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect.input import RunInput
from pydantic import Field, create_model

from db.connection.environments import Environment
from db.plan.model import Plan
from db.plan.render import step_table

MIN_REASON = 3
FORM_COLUMNS = ("#", "step", "hazards")  # the modal is narrow; the artifact has every column


class ApprovalForm(RunInput):
    """Base of the per-plan form (its fields in form order); approval_form_for() narrows them to the
    plan and the environment."""

    decision: Literal["approve", "reject"]
    reason: str = ""
    allow_hazards: list[str] = Field(default_factory=list)

    @property
    def approve(self) -> bool:
        return self.decision == "approve"


def form_description(plan: Plan, environment: str, run_hazards: tuple[str, ...] = ()) -> str:
    """The Markdown above the form: what exactly is being approved, narrow enough for the ~450 px
    modal (the checksum in four groups that wrap; the locks, sizes and SQL are in the artifact).
    `run_hazards` are the apply's own beyond the steps' (a reshape of metrics_daily), so the line
    names every hazard the form offers."""
    hazards = ", ".join(sorted({str(h) for h in (*plan.hazards(), *run_hazards)})) or "none"
    groups = " ".join(f"`{plan.checksum[i : i + 16]}`" for i in range(0, len(plan.checksum), 16))
    artifact = f"migrate-{environment}-plan"
    return "\n".join(
        [
            f"### Approve plan `{plan.checksum[:12]}` for **{environment}**?",
            "",
            f"- plan checksum: {groups}",
            f"- steps: **{len(plan.steps)}**",
            f"- hazards: **{hazards}**",
            f"- locks, table sizes and SQL: the [{artifact}](/artifacts/key/{artifact}) artifact",
            "",
            *step_table(plan, columns=FORM_COLUMNS),
            "",
            "Approving applies exactly this plan after a backup; a database that changed meanwhile is "
            "planned again and asked again. Rejecting ends the run Cancelled; nothing changes.",
        ]
    )


def approval_form_for(plan: Plan, env: Environment, hazards: tuple[str, ...] = ()) -> type[ApprovalForm]:
    """The form for `plan`: a required decision, a reason (required with require_approval), and the
    plan's own hazards (plus `hazards`, e.g. a reshape's) as the only choices; described by the plan."""
    choices = sorted({str(h) for h in (*plan.hazards(), *hazards)})
    why = "Why (recorded in migration_history and the report)"
    fields: dict[str, Any] = {
        "decision": (
            Literal["approve", "reject"],
            Field(description="Apply exactly this plan, or stop the run with nothing changed"),
        ),
        # Where approval is required, no default: the form will not submit without one.
        "reason": (str, Field(min_length=MIN_REASON, description=why))
        if env.require_approval
        else (str, Field(default="", description=why)),
    }
    if choices:
        choice: Any = Literal[tuple(choices)]
        fields["allow_hazards"] = (
            list[choice],
            Field(default_factory=list, description="Hazards of this plan you accept (from its list)"),
        )
    else:
        fields["allow_hazards"] = (list[str], Field(default_factory=list, max_length=0))
    model: type[ApprovalForm] = create_model("ApprovalForm", __base__=ApprovalForm, **fields)  # type: ignore[call-overload]
    return model.with_initial_data(description=form_description(plan, env.name, hazards))
