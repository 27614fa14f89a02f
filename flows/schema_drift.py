"""The `schema_drift` flow: a scheduled check that an environment's database still matches the master file."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import SecretStr

from db.connection.environments import get_environment, scratch_setting
from db.errors import CheckFailed
from db.schema.master_file import read_schema
from tasks.drift import detect_drift
from tasks.notify import notify_failure
from tasks.reporting import masked_unexpected_errors
from tasks.secrets import resolve_flow_target


@flow(
    name="schema-drift",
    flow_run_name="schema-drift-{environment}",
    log_prints=False,
    on_failure=[notify_failure],
)
def schema_drift(
    environment: str = "staging",
    database_url: SecretStr | None = None,
    scratch_url: SecretStr | None = None,
    fail_on_drift: bool = True,
    schema_file: str | None = None,
) -> dict[str, Any]:
    """Compare an environment's database with the master file; publish the differences as a table.

    Args:
        environment: Name of an environment in environments.toml (local, staging, production, ...).
        database_url: Override the environment's connection (stored masked). Normally left empty.
        scratch_url: An empty database on the same server to build the expected schema in, for roles
            that may not CREATE DATABASE. Left empty afterwards.
        fail_on_drift: Mark the run failed when any difference is found, so notifications fire.
        schema_file: Compare with this file instead of the repository's master schema.

    Returns:
        The report: target (masked), mode, counts and every difference with its suggested SQL.
    """
    logger = get_run_logger()
    with masked_unexpected_errors(logger):
        env = get_environment(environment)
        resolved = resolve_flow_target(env, database_url)
        logger.info("checking %s at %s for drift", environment, resolved)
        for warning in resolved.warnings:  # e.g. sslmode=require does not authenticate the server
            logger.warning("%s", warning)
        scratch = scratch_setting(env, scratch_url)
        schema_sql = read_schema(schema_file) if schema_file else None
        report = detect_drift(resolved.url, environment, scratch_url=scratch, schema_sql=schema_sql)
    if report.has_drift and fail_on_drift:
        raise CheckFailed(
            f"{environment} has drifted from the master file: {len(report.differences)} differences",
            hint=f"see the drift-{environment} artifact or run: schemaflow drift --env {environment}",
            rows=report.rows(),
        )
    return report.as_dict()
