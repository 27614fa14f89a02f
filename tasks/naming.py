"""How a migrate run is named and tagged, so a person can tell runs apart in the UI and the API.

A name carries the environment, the kind of run (plan, dry-run, apply), the masked target host and a
short id: `migrate-production-apply-db.internal-3f9c1a`. The same tags go on deployment runs
(prefect.yaml) and on CLI runs (cli/migrate.py), so a filter on `production` finds both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# What kind of run it is, by what it can change.
KIND_APPLY = "apply"
KIND_DRY_RUN = "dry-run"
KIND_PLAN = "plan"
UNRESOLVED_HOST = "target-unresolved"


def run_kind(parameters: Mapping[str, Any]) -> str:
    """plan, dry-run or apply, from a migrate run's parameters."""
    if parameters.get("plan_only"):
        return KIND_PLAN
    return KIND_DRY_RUN if parameters.get("dry_run") else KIND_APPLY


def run_tags(environment: str) -> list[str]:
    """The tags every migrate run carries, from a deployment (prefect.yaml `tags:`) or from the CLI."""
    return [environment, "migrate"]


def target_host(environment: str, database_url: Any = None) -> str:
    """The host (and port) the run will connect to, never the password; a marker when unresolvable.

    Resolving reads the environment's Secret block or variables, exactly as the run itself will; a
    failure here only shortens the name, the run then reports the real error itself.
    """
    from pydantic import SecretStr

    if database_url is not None and not isinstance(database_url, SecretStr):
        return UNRESOLVED_HOST  # Prefect hands a masked SecretStr to the name as '**********'
    try:
        from db.connection.environments import get_environment
        from db.connection.urls import validate_url
        from tasks.secrets import resolve_flow_target

        resolved = resolve_flow_target(get_environment(environment), database_url)
        parts = validate_url(resolved.url)
    except Exception:
        return UNRESOLVED_HOST
    host = parts.get("host") or "localhost"
    port = parts.get("port") or ""
    return f"{host}-{port}" if port and port != "5432" else host


def run_name(environment: str, kind: str, host: str, flow_run_id: str) -> str:
    """migrate-<environment>-<kind>-<host>-<first 6 of the run id>; Prefect shows it everywhere."""
    short = re.sub(r"[^0-9a-f]", "", flow_run_id.lower())[:6] or "local"
    return f"migrate-{environment}-{kind}-{_slug(host)}-{short}"


def migrate_run_name(fixed_environment: str | None = None) -> Callable[[], str]:
    """A `flow_run_name` callable; `fixed_environment` for entry flows that take no environment parameter."""

    def name() -> str:
        from prefect.runtime import flow_run

        parameters = dict(flow_run.parameters or {})
        environment = fixed_environment or str(parameters.get("environment") or "local")
        host = target_host(environment, parameters.get("database_url"))
        return run_name(environment, run_kind(parameters), host, str(flow_run.id or ""))

    return name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "host"
