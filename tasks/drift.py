"""The drift task: compare one database with the master file and publish the differences as a table."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from db.catalog.drift import DriftReport, check_drift
from db.connection.urls import mask_url
from tasks.reporting import artifact_key

TABLE_COLUMNS = ("severity", "status", "kind", "name", "detail", "suggestion")


def drift_artifact_key(environment: str) -> str:
    """A stable key so the UI keeps the history of one environment's drift, e.g. drift-staging."""
    return artifact_key(environment, flow="drift")


# No retries: the check changes nothing, and a scheduled run simply tries again next time.
@task(name="check-drift")
def detect_drift(
    url: str, environment: str, scratch_url: str | None = None, schema_sql: str | None = None
) -> DriftReport:
    """Build the expected schema in a scratch database, diff the target against it, publish the table."""
    logger = get_run_logger()
    report = check_drift(url, scratch_url=scratch_url, schema_sql=schema_sql)
    rows = [{c: mask_url(r[c]) for c in TABLE_COLUMNS} for r in report.rows()]
    if rows:
        create_table_artifact(
            table=rows,
            key=drift_artifact_key(environment),
            description=f"Schema drift of {environment}: {summary(report)}",
        )
    else:
        create_markdown_artifact(
            markdown=f"**No drift** in {environment}: {summary(report)}", key=drift_artifact_key(environment)
        )
    logger.info("drift in %s: %s", environment, summary(report))
    return report


def summary(report: DriftReport) -> str:
    """One line: how many differences of each kind, where, and how long the check took."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts().items())) or "none"
    where = f"{report.target}, mode {report.mode}, {report.seconds} s"
    return f"{len(report.differences)} differences ({counts}) in {where}"
