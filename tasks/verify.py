"""The verify task: the old table-count and key-table checks, the health checks, the GX suites."""

from __future__ import annotations

import psycopg
from prefect import task

from db.connection.connect import connect
from db.connection.environments import get_environment
from db.deploy.check_result import CheckResult
from db.deploy.health import run_health_checks
from db.deploy.verify import verify_schema
from db.errors import CheckFailed
from tasks.reporting import artifact_key, check_rows, publish_table, run_logger

_FAILED = ("fail", "failed", "error")


@task(name="verify", task_run_name="verify-{environment}")
def verify(
    url: str, environment: str, run_expectations: bool = True, restore_command: str | None = None
) -> list[CheckResult]:
    """Verify the deployed schema; raise CheckFailed (with the restore command, if any) when a row fails."""
    logger = run_logger()
    env = get_environment(environment)
    with connect(url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        rows = verify_schema(conn, env.target_schema)
        rows += health_rows(conn)
    rows += (
        expectation_rows(url)
        if run_expectations
        else [CheckResult("expectations", "skip", "not run (run_expectations=false)")]
    )
    for row in rows:
        log = logger.warning if row.status in ("fail", "warn") else logger.info
        log("verify %-28s %-4s %s", row.name, row.status, row.detail)
    publish_table(
        table=check_rows(rows),
        key=artifact_key(environment, "verify"),
        description=f"Verification after migrating {environment}",
    )
    failed = [r for r in rows if r.status == "fail"]
    if failed:
        # The schema applied and no data was lost (a plan that destroys rows never runs unallowed):
        # the check's own fix, not replacing the whole database with the backup, is the way forward.
        if restore_command:
            logger.info("the backup taken before this run stays available: %s", restore_command)
        raise CheckFailed(
            f"verification failed for {environment}: {', '.join(r.name for r in failed)} "
            f"({failed[0].detail})",
            hint=failed[0].hint or "see the verification table in the run report",
            rows=rows,
        )
    return rows


def health_rows(conn: psycopg.Connection) -> list[CheckResult]:
    """The schema health checks (db/deploy/health.py) as report rows."""
    return [
        CheckResult(f"health: {h.name}", _status(h.status), h.detail, getattr(h, "fix", "") or "")
        for h in run_health_checks(conn)
    ]


def expectation_rows(url: str) -> list[CheckResult]:
    """One row per GX suite; GX is imported only here, because its import costs seconds."""
    from expectations.runner import run_suites

    report = run_suites(url)
    by_suite: dict[str, list[dict]] = {}
    for row in report.rows:
        by_suite.setdefault(row["suite"], []).append(row)
    rows = []
    for suite, results in by_suite.items():
        bad = [r for r in results if not r["success"]]
        detail = f"{len(results) - len(bad)}/{len(results)} expectations met"
        if bad:
            # What each one observed (the rows it found, for unexpected-rows checks), not only its name.
            detail += ": failed " + ", ".join(f"{r['expectation']} ({r['observed_value']})" for r in bad[:5])
        rows.append(CheckResult(f"expectations: {suite}", "fail" if bad else "pass", detail))
    if not rows:
        rows.append(
            CheckResult("expectations", "pass" if report.success else "fail", "no suite rows returned")
        )
    docs = getattr(report, "data_docs_index", None)
    if docs:
        # The http:// address `make ui` serves opens from the UI's page; the file:// path works anywhere.
        served = getattr(report, "data_docs_url", None)
        detail = f"{served} (file://{docs})" if served else f"file://{docs}"
        rows.append(CheckResult("data docs", "pass", detail))
    return rows


def _status(status: str) -> str:
    status = str(status).lower()
    if status in _FAILED:
        return "fail"
    return status if status in ("warn", "skip") else "pass"
