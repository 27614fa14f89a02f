"""The refresh-metrics task: one windowed refresh of metrics_daily, and the table a person reads after it."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from db.connection.connect import connect
from db.deploy.metrics import MetricsRefresh, refresh_metrics_window
from tasks.reporting import artifact_key

REPORT_COLUMNS = ("kind", "window", "window_start", "buckets_upserted", "buckets_deleted", "seconds")


def refresh_artifact_key(environment: str) -> str:
    """A stable key per environment so the UI keeps the history, e.g. refresh-metrics-staging."""
    return artifact_key(environment, flow="refresh-metrics")


# Retries only for what a second try can fix: a refresh that met a lock or lost its connection.
# Re-running is always safe: the refresh is an idempotent upsert of the window's buckets.
@task(
    name="refresh-metrics-daily",
    task_run_name="refresh-metrics-daily-{environment}",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=lambda task, run, state: _transient(state),
)
def refresh_metrics_daily(url: str, environment: str, window: str) -> MetricsRefresh:
    """Re-aggregate metrics_daily's buckets inside `window` and publish what changed."""
    logger = get_run_logger()
    with connect(url, autocommit=True) as conn:
        report = refresh_metrics_window(conn, window, environment)
    logger.info(
        "metrics_daily (%s) refreshed from %s: %s bucket(s) upserted, %s deleted in %.3f s",
        report.kind, report.window_start, report.buckets_upserted, report.buckets_deleted, report.seconds,
    )  # fmt: skip
    create_table_artifact(
        table=[{c: str(getattr(report, c)) for c in REPORT_COLUMNS}],
        key=refresh_artifact_key(environment),
        description=f"metrics_daily refresh of {environment} (window {report.window})",
    )
    return report


def _transient(state: object) -> bool:
    import psycopg

    from db.errors import ConnectionFailed

    try:
        state.result()  # type: ignore[attr-defined]
    except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected, psycopg.OperationalError):
        return True
    except ConnectionFailed:
        return True
    except Exception:
        return False
    return False
