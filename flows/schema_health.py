"""The `schema_health` flow: health checks, then the GX suites, one report; scheduled per environment."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import SecretStr

from db.connection.environments import get_environment
from db.errors import CheckFailed
from tasks.health import check_health, publish_health_report, run_expectation_suites
from tasks.notify import notify_failure
from tasks.reporting import masked_unexpected_errors
from tasks.secrets import resolve_flow_target


@flow(
    name="schema-health",
    flow_run_name="schema-health-{environment}",
    log_prints=False,
    on_failure=[notify_failure],
)
def schema_health(
    environment: str = "staging",
    database_url: SecretStr | None = None,
    window_days: int = 7,
    full: bool = False,
    run_expectations: bool = True,
) -> dict[str, Any]:
    """Check that an environment's database is what the master file says and its data has the right shape.

    Args:
        environment: Name of an environment in environments.toml (local, staging, production, ...).
        database_url: Override the environment's connection (stored masked). Normally left empty.
        window_days: Validate the time series of the last this many days (cost follows the window).
        full: Validate every row instead of the window (slow on large tables).
        run_expectations: Run the GX suites after the health checks (off: catalog checks only, ~1 s).

    Returns:
        Health rows, expectation rows and the Data Docs index path.
    """
    logger = get_run_logger()
    with masked_unexpected_errors(logger):
        resolved = resolve_flow_target(get_environment(environment), database_url)
        logger.info("checking the health of %s at %s", environment, resolved)
        for warning in resolved.warnings:  # e.g. sslmode=require does not authenticate the server
            logger.warning("%s", warning)
        checks = check_health(resolved.url, environment)
        suites = None
        if run_expectations:
            suites = run_expectation_suites(resolved.url, environment, window_days=window_days, full=full)
        publish_health_report(environment, checks, suites)
    bad_checks = [c for c in checks if not c.ok]
    bad_rows = [r for r in (suites or {}).get("rows", []) if not r["success"]]
    if bad_checks or bad_rows:
        # Each failed check with what it found (the index, the column), as the report's table shows it.
        what = [f"{c.name} ({_short(c.detail)})" for c in bad_checks]
        what += [f"{r['suite']}/{r['expectation']}" for r in bad_rows]
        raise CheckFailed(
            f"{environment} is not healthy: {', '.join(what[:6])}" + (" ..." if len(what) > 6 else ""),
            hint=(bad_checks[0].fix if bad_checks else None)
            or f"see the schema-health-{environment}-report artifact and the Data Docs",
            rows=[c.as_dict() for c in checks] + (suites or {}).get("rows", []),
        )
    return {"checks": [c.as_dict() for c in checks], "suites": suites}


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
