"""Two catalog snapshots compared: what is missing, unexpected or changed, and the steps that fix it.

`diff_catalogs(expected, actual)` turns two snapshots (db/catalog/snapshot.py) into `Difference`
rows, each with a severity (db/catalog/severity.py) and, as its suggestion, the SQL of the planner's
steps it causes. It sits above the planner it calls, which reads snapshots and never this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from db.catalog.severity import severity_of
from db.catalog.snapshot import KINDS, PARENT, Snapshot, compared_attributes
from db.plan.model import Plan
from db.plan.planner import plan_changes


@dataclass(frozen=True)
class Difference:
    """One way two catalogs differ: missing (expected only), unexpected (actual only) or changed."""

    kind: str
    name: str
    status: str
    detail: str
    severity: str
    suggestion: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def diff_catalogs(expected: Snapshot, actual: Snapshot, *, plan: Plan | None = None) -> list[Difference]:
    """Compare two snapshots; children of a missing or unexpected object are folded into it.

    Each difference's suggestion is the SQL of the planner's steps it causes (db/plan/): `plan`
    when given (computed from these two snapshots), else planned here with every drop allowed,
    since a suggestion is only ever read by a reviewer.
    """
    raw: list[tuple[str, str, str, dict | None, dict | None]] = []
    for kind in KINDS:
        exp, act = expected.get(kind, {}), actual.get(kind, {})
        for name in sorted(exp.keys() | act.keys()):
            e, a = exp.get(name), act.get(name)
            if a is None:
                raw.append((kind, name, "missing", e, None))
            elif e is None:
                raw.append((kind, name, "unexpected", None, a))
            elif compared_attributes(e) != compared_attributes(a):
                raw.append((kind, name, "changed", e, a))
    if not raw:
        return []
    if plan is None:
        plan = plan_changes(expected, actual, allow_destroy=True)
    gone = {f"{kind}:{name}" for kind, name, status, _, _ in raw if status != "changed"}
    kept = [r for r in raw if (r[3] or r[4] or {}).get(PARENT) not in gone]
    reported = {f"{kind}:{name}" for kind, name, *_ in kept}
    suggestions: dict[str, list[str]] = {}
    for step in plan.steps:
        key = _reported_ancestor(step.cause or f"{step.kind}:{step.name}", reported, expected, actual)
        suggestions.setdefault(key, []).append(_terminated(step.sql))
    diffs = []
    for kind, name, status, e, a in kept:
        detail = _describe(kind, status, e, a)
        severity = severity_of(kind, name, status, e, a, expected, actual)
        suggestion = "\n".join(suggestions.get(f"{kind}:{name}", [])) or _no_step(kind, name, plan)
        diffs.append(Difference(kind, name, status, detail, severity, suggestion))
    return diffs


def _reported_ancestor(key: str, reported: set[str], *snaps: Snapshot) -> str:
    """The difference a step belongs to: its own object's, or the nearest reported ancestor's."""
    seen = {key}
    while key not in reported:
        kind, name = key.split(":", 1)
        parent = next((s[kind][name].get(PARENT) for s in snaps if name in s.get(kind, {})), None)
        if not parent or parent in seen:
            return key
        seen.add(parent)
        key = parent
    return key


def _terminated(statement: str) -> str:
    text = statement.strip()
    return text if text.endswith(";") else text + ";"


def _no_step(kind: str, name: str, plan: Plan) -> str:
    """Why a difference has no statement: a plan note names it (left out, or resolved by another step)."""
    for note in plan.notes:
        if f"{kind} {name}" in note:
            return f"-- {note}".replace("\n", " ")
    return f"-- resolved by the steps of the objects it belongs to ({kind} {name})"


def _describe(kind: str, status: str, expected: dict | None, actual: dict | None) -> str:
    if status == "missing":
        return f"{kind} is in the master file but not in the database"
    if status == "unexpected":
        return f"{kind} is in the database but not in the master file"
    assert expected is not None and actual is not None
    parts = []
    for key in sorted(compared_attributes(expected).keys() | compared_attributes(actual).keys()):
        e, a = expected.get(key), actual.get(key)
        if e != a:
            parts.append(f"{key}: expected {_short(e)}, found {_short(a)}")
    return "; ".join(parts)


def _short(value: Any, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", json.dumps(value) if not isinstance(value, str) else repr(value)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
