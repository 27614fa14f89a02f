"""The flows prefect.yaml deploys: one per environment and job, each with its environment fixed in code.

A deployment's run form (and `prefect deployment run -p`) offers exactly the parameters of its
entrypoint function, and `enforce_parameter_schema` refuses any other. So `migrate/staging` has no
`environment`, `schema_file` or `database_url` to set: it cannot be pointed at production or made to
apply another file. Each entry flow runs the shared migrate flow's code (`migrate.fn`) inside its own
run, so there is one run per trigger, named and tagged like any other migrate run.

The scheduled ones first ask whether their environment is set up (db/deploy/readiness.py): before
its Secret block is stored or its database built, a run ends Completed named Skipped, its message
naming the command that switches it on, instead of Failed on every schedule tick.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Completed, State
from pydantic import SecretStr

from db.connection.environments import get_environment
from db.deploy.metrics import DEFAULT_WINDOW
from db.deploy.readiness import not_set_up_reason
from flows.enforce_retention import enforce_retention
from flows.migrate import migrate
from flows.refresh_metrics import refresh_metrics
from flows.schema_drift import schema_drift
from flows.schema_health import schema_health
from tasks.naming import migrate_run_name
from tasks.notify import notify_failure_of
from tasks.secrets import load_secret

Outcome = dict[str, Any] | State


def skipped_unless_set_up(environment: str, *, needs_schema: bool) -> State | None:
    """A Skipped state saying what to set up when `environment` is not set up yet; None when it is."""
    reason = not_set_up_reason(get_environment(environment), load_secret, needs_schema=needs_schema)
    if reason is None:
        return None
    get_run_logger().warning("Skipped: %s", reason)
    return Completed(name="Skipped", message=reason)


@flow(
    name="migrate",
    flow_run_name=migrate_run_name("production"),
    log_prints=False,
    on_failure=[notify_failure_of("production")],
)
def migrate_production(
    dry_run: bool = False,
    plan_only: bool = False,
    run_expectations: bool = True,
    revision: str | None = None,
) -> dict[str, Any]:
    """Production: preflight, plan, pause for approval of that plan, backup, apply it, verify.

    The run computes the plan, publishes it as the migrate-production-plan artifact and pauses: read
    the plan, then Resume the run: its form shows the plan; choose approve (with the hazards you accept
    and a reason) to apply exactly that plan, or reject to stop. Nothing changes without that approval.

    Args:
        dry_run: Preflight and a rolled-back apply that reports the changes; no approval, nothing changed.
        plan_only: Preflight, compute and publish the plan, and stop; nothing changed.
        run_expectations: Run the Great Expectations suites during verification (slower on big data).
        revision: The git commit to deploy (a workflow passes the merged commit). The run refuses,
            changing nothing, unless the worker's master file and one-offs are that commit's.
    """
    return migrate.fn(
        environment="production",
        dry_run=dry_run,
        plan_only=plan_only,
        run_expectations=run_expectations,
        revision=revision,
    )


@flow(
    name="migrate",
    flow_run_name=migrate_run_name("staging"),
    log_prints=False,
    on_failure=[notify_failure_of("staging")],
)
def migrate_staging(
    dry_run: bool = False,
    plan_only: bool = False,
    backup_anyway: bool = False,
    run_expectations: bool = True,
    revision: str | None = None,
) -> Outcome:
    """Staging (nightly): preflight, backup, apply the master schema and verify.

    Args:
        dry_run: Preflight and a rolled-back apply that reports the changes; nothing changed.
        plan_only: Preflight, compute and publish the plan, and stop; nothing changed.
        backup_anyway: Take a backup even where the environment does not require one.
        run_expectations: Run the Great Expectations suites during verification (slower on big data).
        revision: The git commit to deploy (a workflow passes the merged commit). The run refuses,
            changing nothing, unless the worker's master file and one-offs are that commit's.
    """
    skipped = skipped_unless_set_up("staging", needs_schema=False)
    if skipped:
        return skipped
    return migrate.fn(
        environment="staging",
        dry_run=dry_run,
        plan_only=plan_only,
        backup_anyway=backup_anyway,
        run_expectations=run_expectations,
        revision=revision,
    )


@flow(
    name="migrate",
    flow_run_name=migrate_run_name("local"),
    log_prints=False,
    on_failure=[notify_failure_of("local")],
)
def migrate_local(
    dry_run: bool = False,
    plan_only: bool = False,
    run_expectations: bool = True,
    schema_file: str | None = None,
) -> dict[str, Any]:
    """The embedded local cluster: try the pipeline, including another schema file.

    Args:
        dry_run: Preflight and a rolled-back apply that reports the changes; nothing changed.
        plan_only: Preflight, compute and publish the plan, and stop; nothing changed.
        run_expectations: Run the Great Expectations suites during verification.
        schema_file: Apply this file instead of the repository's master schema (for rehearsals).
    """
    return migrate.fn(
        environment="local",
        dry_run=dry_run,
        plan_only=plan_only,
        run_expectations=run_expectations,
        schema_file=schema_file,
    )


def _health(environment: str, window_days: int, full: bool, run_expectations: bool) -> Outcome:
    skipped = skipped_unless_set_up(environment, needs_schema=True)
    if skipped:
        return skipped
    return schema_health.fn(
        environment=environment, window_days=window_days, full=full, run_expectations=run_expectations
    )


@flow(
    name="schema-health",
    flow_run_name="schema-health-staging",
    log_prints=False,
    on_failure=[notify_failure_of("staging")],
)
def health_staging(window_days: int = 7, full: bool = False, run_expectations: bool = True) -> Outcome:
    """Staging's health checks and Great Expectations suites (read-only).

    Args:
        window_days: Validate the time series of the last this many days (cost follows the window).
        full: Validate every row instead of the window (slow on large tables).
        run_expectations: Run the GX suites after the health checks (off: catalog checks only, ~1 s).
    """
    return _health("staging", window_days, full, run_expectations)


@flow(
    name="schema-health",
    flow_run_name="schema-health-production",
    log_prints=False,
    on_failure=[notify_failure_of("production")],
)
def health_production(window_days: int = 7, full: bool = False, run_expectations: bool = True) -> Outcome:
    """Production's health checks and Great Expectations suites (read-only).

    Args:
        window_days: Validate the time series of the last this many days (cost follows the window).
        full: Validate every row instead of the window (slow on large tables).
        run_expectations: Run the GX suites after the health checks (off: catalog checks only, ~1 s).
    """
    return _health("production", window_days, full, run_expectations)


@flow(
    name="schema-drift",
    flow_run_name="schema-drift-staging",
    log_prints=False,
    on_failure=[notify_failure_of("staging")],
)
def drift_staging(scratch_url: SecretStr | None = None, fail_on_drift: bool = True) -> Outcome:
    """Compare staging's catalog with the master schema (read-only on staging).

    Args:
        scratch_url: Where to build the expected schema instead of the environment's scratch_url (a
            database name on the target's server, or a URL on a server of the same build). Left empty
            afterwards.
        fail_on_drift: Mark the run failed when any difference is found, so notifications fire.
    """
    skipped = skipped_unless_set_up("staging", needs_schema=True)
    if skipped:
        return skipped
    return schema_drift.fn(environment="staging", scratch_url=scratch_url, fail_on_drift=fail_on_drift)


@flow(
    name="schema-drift",
    flow_run_name="schema-drift-production",
    log_prints=False,
    on_failure=[notify_failure_of("production")],
)
def drift_production(scratch_url: SecretStr | None = None, fail_on_drift: bool = True) -> Outcome:
    """Compare production's catalog with the master schema (read-only on production).

    Args:
        scratch_url: Where to build the expected schema instead of the environment's scratch_url (a
            database name on the target's server, or a URL on a server of the same build). Left empty
            afterwards.
        fail_on_drift: Mark the run failed when any difference is found, so notifications fire.
    """
    skipped = skipped_unless_set_up("production", needs_schema=True)
    if skipped:
        return skipped
    return schema_drift.fn(environment="production", scratch_url=scratch_url, fail_on_drift=fail_on_drift)


@flow(
    name="refresh-metrics",
    flow_run_name="refresh-metrics-staging",
    log_prints=False,
    on_failure=[notify_failure_of("staging")],
)
def refresh_metrics_staging(window: str = DEFAULT_WINDOW) -> Outcome:
    """Every 15 minutes: re-aggregate staging's metrics_daily inside the refresh window.

    Args:
        window: How far back to re-aggregate ('3 days', '3d', '12h'); older buckets stay as they are.
    """
    skipped = skipped_unless_set_up("staging", needs_schema=True)
    if skipped:
        return skipped
    return refresh_metrics.fn(environment="staging", window=window)


@flow(
    name="refresh-metrics",
    flow_run_name="refresh-metrics-production",
    log_prints=False,
    on_failure=[notify_failure_of("production")],
)
def refresh_metrics_production(window: str = DEFAULT_WINDOW) -> Outcome:
    """Every 15 minutes: re-aggregate production's metrics_daily inside the refresh window.

    Args:
        window: How far back to re-aggregate ('3 days', '3d', '12h'); older buckets stay as they are.
    """
    skipped = skipped_unless_set_up("production", needs_schema=True)
    if skipped:
        return skipped
    return refresh_metrics.fn(environment="production", window=window)


@flow(
    name="refresh-metrics",
    flow_run_name="refresh-metrics-local",
    log_prints=False,
    on_failure=[notify_failure_of("local")],
)
def refresh_metrics_local(window: str = DEFAULT_WINDOW) -> dict[str, Any]:
    """Every 15 minutes: re-aggregate the local cluster's metrics_daily inside the refresh window.

    Args:
        window: How far back to re-aggregate ('3 days', '3d', '12h'); older buckets stay as they are.
    """
    return refresh_metrics.fn(environment="local", window=window)


@flow(
    name="enforce-retention",
    flow_run_name="enforce-retention-staging",
    log_prints=False,
    on_failure=[notify_failure_of("staging")],
)
def enforce_retention_staging(dry_run: bool = False) -> Outcome:
    """Daily: drop staging's chunks (or rows) older than the master file's retention windows.

    Args:
        dry_run: Name the chunks (count the rows) that would go and change nothing.
    """
    skipped = skipped_unless_set_up("staging", needs_schema=True)
    if skipped:
        return skipped
    return enforce_retention.fn(environment="staging", dry_run=dry_run)


@flow(
    name="enforce-retention",
    flow_run_name="enforce-retention-production",
    log_prints=False,
    on_failure=[notify_failure_of("production")],
)
def enforce_retention_production(dry_run: bool = False) -> Outcome:
    """Daily: drop production's chunks (or rows) older than the master file's retention windows.

    Args:
        dry_run: Name the chunks (count the rows) that would go and change nothing.
    """
    skipped = skipped_unless_set_up("production", needs_schema=True)
    if skipped:
        return skipped
    return enforce_retention.fn(environment="production", dry_run=dry_run)


@flow(
    name="enforce-retention",
    flow_run_name="enforce-retention-local",
    log_prints=False,
    on_failure=[notify_failure_of("local")],
)
def enforce_retention_local(dry_run: bool = False) -> dict[str, Any]:
    """Drop the local cluster's chunks (or rows) older than the retention windows, when triggered.

    Args:
        dry_run: Name the chunks (count the rows) that would go and change nothing.
    """
    return enforce_retention.fn(environment="local", dry_run=dry_run)
