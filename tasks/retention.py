"""The enforce-retention task: one run of db/deploy/retention.py, and the table a person reads after it."""

from __future__ import annotations

from datetime import UTC

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from db.connection.connect import connect
from db.deploy.retention import RetentionRun, enforce_retention
from tasks.apply import retry_if_transient
from tasks.reporting import artifact_key


def retention_artifact_key(environment: str) -> str:
    """A stable key per environment so the UI keeps the history, e.g. enforce-retention-staging."""
    return artifact_key(environment, flow="enforce-retention")


# Retries only for what a second try can fix (a lost connection, a lock); a rerun is safe: what was
# dropped is gone from the catalog and the rest is found again.
@task(
    name="enforce-retention",
    task_run_name="enforce-retention-{environment}",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_transient,
)
def enforce_retention_windows(url: str, environment: str, lock_timeout: str, dry_run: bool) -> RetentionRun:
    """Drop (or, dry, list) what lies outside each retention window and publish what it did."""
    logger = get_run_logger()
    with connect(url, autocommit=True) as conn:
        report = enforce_retention(conn, environment=environment, dry_run=dry_run, lock_timeout=lock_timeout)
    rows = []
    for t in report.tables:
        chunks = len(t.chunks) if dry_run else t.chunks_dropped
        logger.info(
            "%s (keep %s): %s %d chunk(s), ~%d row(s) older than %s%s",
            t.table, t.keep_for, "would remove" if dry_run else "removed", chunks, t.rows, t.cutoff,
            f"; {t.chunks_left} chunk(s) left locked for the next run" if t.chunks_left else "",
        )  # fmt: skip
        rows.append(
            {
                "table": t.table,
                "keep_for": t.keep_for,
                "cutoff (UTC)": f"{t.cutoff.astimezone(UTC):%Y-%m-%d %H:%M}",
                "method": t.method,
                "chunks": str(chunks),
                "rows": str(t.rows),
                "chunks_left": str(t.chunks_left),
            }
        )
    create_table_artifact(
        table=rows,
        key=retention_artifact_key(environment) + ("-dry-run" if dry_run else ""),
        description=f"retention of {environment}" + (" (dry run: nothing changed)" if dry_run else ""),
    )
    return report
