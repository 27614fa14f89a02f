"""One row of a check table (preflight, verify): a name, a status and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CheckResult:
    """One preflight row. status: 'pass', 'warn', 'fail', or 'skip' (could not be checked)."""

    name: str
    status: str
    detail: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
