"""The flows prefect.yaml deploys: one per environment, each with its environment fixed in code.

A deployment's run form (and `prefect deployment run -p`) offers exactly the parameters of its
entrypoint function, and `enforce_parameter_schema` refuses any other. So `migrate/staging` has no
`environment`, `schema_file` or `database_url` to set: it cannot be pointed at production or made to
apply another file. Each entry flow runs the shared migrate flow's code (`migrate.fn`) inside its own
run, so there is one run per trigger, named and tagged like any other migrate run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.migrate import migrate
from tasks.naming import migrate_run_name
from tasks.notify import notify_failure_of


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
) -> dict[str, Any]:
    """Production: preflight, plan, pause for approval of that plan, backup, apply it, verify.

    The run computes the plan, publishes it as the migrate-production-plan artifact and pauses: read
    the plan, then Resume the run with approve=true (and the hazards you accept) to apply exactly that
    plan, or approve=false to stop. Nothing changes without that approval.

    Args:
        dry_run: Preflight and a rolled-back apply that reports the changes; no approval, nothing changed.
        plan_only: Preflight, compute and publish the plan, and stop; nothing changed.
        run_expectations: Run the Great Expectations suites during verification (slower on big data).
    """
    return migrate.fn(
        environment="production",
        dry_run=dry_run,
        plan_only=plan_only,
        run_expectations=run_expectations,
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
) -> dict[str, Any]:
    """Staging (nightly): preflight, backup, apply the master schema and verify.

    Args:
        dry_run: Preflight and a rolled-back apply that reports the changes; nothing changed.
        plan_only: Preflight, compute and publish the plan, and stop; nothing changed.
        backup_anyway: Take a backup even where the environment does not require one.
        run_expectations: Run the Great Expectations suites during verification (slower on big data).
    """
    return migrate.fn(
        environment="staging",
        dry_run=dry_run,
        plan_only=plan_only,
        backup_anyway=backup_anyway,
        run_expectations=run_expectations,
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
