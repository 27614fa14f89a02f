"""The rollback task: down sections newest first (db/versions/rollback.py), recorded in both histories."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task

from db.connection.connect import connect
from db.connection.environments import get_environment
from db.deploy.history import HistoryRecord, record_run
from db.errors import SchemaflowError
from db.versions.files import discover_migrations, file_checksum
from db.versions.rollback import RollbackResult, rollback_to
from db.versions.run import Limits
from tasks.reporting import artifact_key, publish_table, run_logger


@task(name="rollback", task_run_name="rollback-{environment}-to-{to_version}")
def rollback_versions(url: str, environment: str, to_version: str) -> RollbackResult:
    """Undo every applied one-off newer than `to_version`; a migration_history row says what ran."""
    logger = run_logger()
    env = get_environment(environment)
    files = discover_migrations(getattr(env, "migrations_dir", None))
    started = datetime.now(UTC)
    outcome, error, result = "success", None, RollbackResult(target=to_version)
    try:
        result = rollback_to(
            url, files, to_version, environment=environment, connect_timeout=env.connect_timeout,
            limits=Limits(env.lock_timeout, env.statement_timeout, env.lock_retries),
        )  # fmt: skip
    except SchemaflowError as exc:
        outcome, error = "failed", exc
        raise
    finally:
        changes = [{"action": "rolled back one-off", "kind": "migration", "name": v, "detail": ""}
                   for v in result.undone]  # fmt: skip
        record = HistoryRecord(
            environment=environment, checksum=file_checksum(f"rollback to {to_version}"), outcome=outcome,
            started_at=started, finished_at=datetime.now(UTC), objects_changed=len(changes),
            error_message=error.message[:2000] if error else None, changes=changes,
        )  # fmt: skip
        with connect(url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
            record_run(conn, record)
    for version in result.undone:
        logger.info("rolled back one-off %s", version)
    publish_table(
        table=[{"version": v, "status": "rolled back"} for v in result.undone]
        or [{"version": "-", "status": f"nothing newer than {to_version} is applied"}],
        key=artifact_key(environment, "rollback"),
        description=f"One-offs rolled back to {to_version} in {environment}",
    )
    logger.info(
        "rollback to %s: %d one-off(s) undone in %.2f s", to_version, len(result.undone), result.seconds
    )
    return result
