"""One health check's result, as the health checks (db/deploy/health.py, retention_health.py) build it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class HealthCheck:
    """One health result: status 'pass', 'fail' or 'skip'; `fix` says what to do when it failed."""

    name: str
    status: str
    detail: str
    fix: str = ""
    severity: str = "normal"  # "high": a failure lets one tenant reach another tenant's rows

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
