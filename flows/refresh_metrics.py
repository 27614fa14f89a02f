"""The `refresh_metrics` flow: keep metrics_daily current inside its refresh window, on a schedule.

A deploy never refreshes metrics_daily (db/deploy/post_commit.py builds it only when it is new);
this flow does, every 15 minutes per environment (prefect.yaml), re-aggregating only the window's
days.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import SecretStr

from db.connection.environments import get_environment
from db.deploy.metrics import DEFAULT_WINDOW
from tasks.metrics import refresh_metrics_daily
from tasks.notify import notify_failure
from tasks.reporting import masked_unexpected_errors
from tasks.secrets import resolve_flow_target


@flow(
    name="refresh-metrics",
    flow_run_name="refresh-metrics-{environment}",
    log_prints=False,
    on_failure=[notify_failure],
)
def refresh_metrics(
    environment: str = "staging",
    database_url: SecretStr | None = None,
    window: str = DEFAULT_WINDOW,
) -> dict[str, Any]:
    """Re-aggregate metrics_daily's daily buckets inside the refresh window; older buckets stay.

    Args:
        environment: Name of an environment in environments.toml (local, staging, production, ...).
        database_url: Override the environment's connection (stored masked). Normally left empty.
        window: How far back to re-aggregate: '3 days', '3d', '12h'. Late events older than this
            are not counted until a run with a wider window.

    Returns:
        What the refresh did: kind, window start, buckets upserted and deleted, seconds.
    """
    logger = get_run_logger()
    with masked_unexpected_errors(logger):
        resolved = resolve_flow_target(get_environment(environment), database_url)
        logger.info("refreshing metrics_daily of %s at %s (window %s)", environment, resolved, window)
        report = refresh_metrics_daily(resolved.url, environment, window)
    return report.as_dict()
