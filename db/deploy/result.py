"""What one apply did: the objects it changed, its post-commit steps, and how it ended.

Both apply paths (the whole file, db/deploy/apply.py; planned steps, db/run/plan_apply.py) fill
the same ApplyResult, so reports, artifacts and history read one shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from db.plan.differences import diff_catalogs


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
    repaired: str = ""  # what this run finished of the work a failed earlier run left (db/deploy/settle.py)

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
