"""The preflight task: every safety check in one table; a failing row stops the run before any change."""

from __future__ import annotations

from prefect import task

from db.connection.environments import get_environment
from db.deploy.check_result import CheckResult
from db.run.preflight import preflight_error, preflight_failed, run_preflight
from tasks.reporting import artifact_key, check_rows, publish_table, run_logger


@task(name="preflight", task_run_name="preflight-{environment}")
def preflight(url: str, environment: str, confirmed: bool | str) -> list[CheckResult]:
    """Run the preflight checks, publish them as a table; raise when any row fails.

    `confirmed` is where the confirmation came from (db/deploy/confirmation.py). A target that cannot
    be used (bad URL, unreachable, wrong password, missing database) raises TargetUnreachable (exit 2);
    any other failed check CheckFailed (exit 1).
    """
    logger = run_logger()
    env = get_environment(environment)
    rows = run_preflight(url, env, confirmed=confirmed)
    for row in rows:
        log = logger.warning if row.status in ("fail", "warn") else logger.info
        log("preflight %-22s %-4s %s", row.name, row.status, row.detail)
    publish_table(
        table=check_rows(rows),
        key=artifact_key(environment, "preflight"),
        description=f"Preflight checks for {environment}",
    )
    if preflight_failed(rows):
        raise preflight_error(rows, environment)
    return rows
