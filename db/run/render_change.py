"""The plan of a change (db/run/change_plan.py) as terminal text, JSON, and Markdown for a pull request.

The steps are rendered by db/plan/render.py, as for every plan; this adds what a reviewer of the
change needs around them: both sides, the one-offs the change adds (they run before the steps), the
hazards the environment would refuse, where the sizes came from, and what the linters found.
"""

from __future__ import annotations

import json

from db.plan.render import render_markdown, render_text
from db.run.change_plan import ChangePlan

NO_SIZES = "none: no live database was read (--stats-from URL fills sizes, chunks and data checks)"
CHECKSUM_NOTE = "its checksum is for reading only: a live database's catalog differs, so migrate plans anew"


def render_change_json(change: ChangePlan) -> str:
    return json.dumps(change.as_dict(), indent=2)


def render_change_text(change: ChangePlan) -> str:
    lines = [
        f"plan of the change {change.base} -> {change.head}",
        f"built on {change.scratch}; sizes from {change.stats_from or NO_SIZES}",
    ]
    lines += _one_offs_lines(change, "  ")
    lines.append(render_text(change.plan, change.not_allowed, change.environment))
    lines += _refused_lines(change, "  ")
    lines += [f"lint: {finding}" for finding in change.lint] or ["lint: no findings"]
    return "\n".join(lines)


def render_change_markdown(change: ChangePlan) -> str:
    """The pull request's comment or job summary: public to whoever reads the pull request, so the
    statistics server is not named (its host and role stay in the job's log, masked)."""
    sizes = "from a live database (--stats-from)" if change.stats_from else NO_SIZES
    out = [
        "## schemaflow: what this change does to the database",
        "",
        f"Base `{change.base}` → head `{change.head}`, both built on a scratch server. Sizes: {sizes}.",
        "",
        "### One-off migrations added",
        "",
    ]
    out += _one_offs_lines(change, "") or ["none"]
    out += ["", "### Plan (after the one-offs)", ""]
    out.append(render_markdown(change.plan, change.not_allowed, change.environment).rstrip())
    if not change.plan.is_empty:
        out += ["", f"_{CHECKSUM_NOTE}._"]
    if change.plan.notes:
        out += ["", "### Notes", ""] + [f"- {note}" for note in change.plan.notes]
    if change.environment:
        out += ["", f"### Hazards {change.environment} would not allow", ""]
        out += _refused_lines(change, "- ") or ["none"]
    out += ["", "### Lint", ""] + ([f"- `{finding}`" for finding in change.lint] or ["no findings"])
    return "\n".join(out) + "\n"


def _one_offs_lines(change: ChangePlan, prefix: str) -> list[str]:
    return [
        f"{prefix}{n}. one-off {f.name} ({f.directives()}), runs before the plan"
        for n, f in enumerate(change.one_offs_added, 1)
    ]


def _refused_lines(change: ChangePlan, prefix: str) -> list[str]:
    return [
        f"{prefix}step {n} ({change.plan.steps[n - 1].action} {change.plan.steps[n - 1].kind} "
        f"{change.plan.steps[n - 1].name}): {', '.join(hazards)} not allowed in {change.environment}; "
        f"a migrate there stops before any change unless run with --allow-hazard"
        for n, hazards in change.not_allowed.items()
    ]
