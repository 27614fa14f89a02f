"""The `enforce_retention` flow: remove what lies outside the master file's retention windows, daily.

In tsl mode TimescaleDB's retention policy does the same on its own schedule; running this there too
is harmless (it finds what the policy left). A run whose chunks stayed locked fails, so the next one
is noticed: those chunks are dropped by the next run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import SecretStr

from db.connection.environments import get_environment
from db.errors import CheckFailed
from tasks.notify import notify_failure
from tasks.reporting import masked_unexpected_errors
from tasks.retention import enforce_retention_windows
from tasks.secrets import resolve_flow_target


@flow(
    name="enforce-retention",
    flow_run_name="enforce-retention-{environment}",
    log_prints=False,
    on_failure=[notify_failure],
)
def enforce_retention(
    environment: str = "staging",
    database_url: SecretStr | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Drop the chunks (or delete the rows) older than each table's retention window.

    Args:
        environment: Name of an environment in environments.toml (local, staging, production, ...).
        database_url: Override the environment's connection (stored masked). Normally left empty.
        dry_run: Name the chunks (count the rows) that would go and change nothing.

    Returns:
        What the run did per table: window, cutoff, chunks and rows removed, chunks left.
    """
    logger = get_run_logger()
    with masked_unexpected_errors(logger):
        env = get_environment(environment)
        resolved = resolve_flow_target(env, database_url)
        logger.info(
            "enforcing retention of %s at %s%s", environment, resolved, " (dry run)" if dry_run else ""
        )
        report = enforce_retention_windows(resolved.url, environment, env.lock_timeout, dry_run)
    left = sum(t.left_for_next_run for t in report.tables)
    if left:
        raise CheckFailed(
            f"{left} chunk(s) or plain table(s) stayed locked past lock_timeout and were not cleared "
            "(what was removed before is recorded in schemaflow.retention_runs)",
            hint="the next run drops them; if it keeps failing, find the long transaction holding them",
        )
    return report.as_dict()
