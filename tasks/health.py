"""Health tasks: the catalog health checks, the GX suites, and the artifacts a person reads after the run."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from db.connection.connect import connect
from db.connection.urls import mask_url
from db.deploy.health import HealthCheck, run_health_checks
from tasks.reporting import artifact_key

HEALTH_COLUMNS = ("name", "status", "detail", "fix")
EXPECTATION_COLUMNS = ("suite", "expectation", "success", "observed_value", "unexpected_count")


def health_artifact_key(environment: str, what: str) -> str:
    """A stable key per environment so the UI keeps the history, e.g. schema-health-staging-checks."""
    return artifact_key(environment, what, flow="schema-health")


# No retries: checks change nothing, and a scheduled run tries again next time.
@task(name="health-checks", task_run_name="health-checks-{environment}")
def check_health(url: str, environment: str) -> list[HealthCheck]:
    """Run the catalog health checks and publish them as a table (one row per check)."""
    logger = get_run_logger()
    with connect(url, autocommit=True) as conn:
        checks = run_health_checks(conn, environment=environment)
    for check in checks:
        log = logger.warning if check.status == "fail" else logger.info
        log("health %-24s %-4s %s", check.name, check.status, check.detail)
    create_table_artifact(
        table=[{c: mask_url(str(getattr(check, c))) for c in HEALTH_COLUMNS} for check in checks],
        key=health_artifact_key(environment, "checks"),
        description=f"Schema health of {environment}: {sum(not c.ok for c in checks)}/{len(checks)} failed",
    )
    return checks


@task(name="expectation-suites", task_run_name="expectation-suites-{environment}")
def run_expectation_suites(
    url: str, environment: str, window_days: int = 7, full: bool = False, data_docs_dir: str | None = None
) -> dict:
    """Run the GX suites and publish one table row per expectation; returns the report as a dict."""
    from expectations.runner import run_suites  # GX import costs seconds: only when this task runs

    logger = get_run_logger()
    # One site per environment, so schedules for staging and production never overwrite each other.
    report = run_suites(
        url,
        window_days=window_days,
        full=full,
        data_docs_dir=Path(data_docs_dir) if data_docs_dir else None,
        environment=environment,
    )
    failed = report.failed_rows()
    for row in failed:
        logger.warning(
            "expectation failed: %s / %s (observed %s)",
            row["suite"],
            row["expectation"],
            row["observed_value"],
        )
    logger.info(
        "%d expectations, %d failed, %.1f s (%s mode); Data Docs: %s",
        len(report.rows),
        len(failed),
        report.seconds,
        report.mode,
        report.data_docs_index,
    )
    scope = "everything" if full else f"the last {window_days} days"
    create_table_artifact(
        table=[{c: _cell(row.get(c)) for c in EXPECTATION_COLUMNS} for row in report.rows],
        key=health_artifact_key(environment, "expectations"),
        description=f"GX expectations on {environment} ({scope}): {len(failed)} failed of {len(report.rows)}",
    )
    return {
        "success": report.success,
        "rows": report.rows,
        "data_docs_index": str(report.data_docs_index) if report.data_docs_index else None,
        "data_docs_url": report.data_docs_url,
        "seconds": round(report.seconds, 2),
        "mode": report.mode,
    }


@task(name="health-report", task_run_name="health-report-{environment}")
def publish_health_report(environment: str, checks: list[HealthCheck], suites: dict | None) -> str:
    """A markdown summary: failed checks with their fixes, failed expectations, and the Data Docs link."""
    markdown = render_health_markdown(environment, checks, suites)
    create_markdown_artifact(
        markdown=markdown,
        key=health_artifact_key(environment, "report"),
        description=f"Schema health report for {environment}",
    )
    return markdown


def render_health_markdown(environment: str, checks: list[HealthCheck], suites: dict | None) -> str:
    """The report's text (also used by tests without Prefect)."""
    bad_checks = [c for c in checks if not c.ok]
    bad_rows = [r for r in (suites or {}).get("rows", []) if not r["success"]]
    healthy = not bad_checks and not bad_rows
    lines = [f"# Schema health: {environment}: {'HEALTHY' if healthy else 'PROBLEMS FOUND'}", ""]
    lines.append(f"**Health checks:** {len(checks) - len(bad_checks)}/{len(checks)} passed")
    for check in bad_checks:
        lines.append(f"- **{check.name}**: {mask_url(check.detail)}. Fix: {mask_url(check.fix)}")
    if suites is None:
        lines += ["", "**Expectations:** not run"]
    else:
        total = len(suites.get("rows", []))
        lines += [
            "",
            f"**Expectations:** {total - len(bad_rows)}/{total} met in {suites.get('seconds')} s "
            f"({suites.get('mode')} mode)",
        ]
        lines += [
            f"- {r['suite']} / {r['expectation']}: observed {mask_url(str(r['observed_value']))}"
            for r in bad_rows
        ]
        index = suites.get("data_docs_index")
        link = suites.get("data_docs_url") or f"file://{index}"
        lines += ["", f"**Data Docs:** [{index}]({link})" if index else "**Data Docs:** not built"]
    return "\n".join(lines)


def _cell(value: object) -> object:
    return mask_url(value) if isinstance(value, str) else value
