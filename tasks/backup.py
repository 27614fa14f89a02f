"""The backup task: the environment's safe point before apply; no backup, no apply.

`backup = "pg_dump"`: pg_dump the target, prove the dump is readable, prune old ones.
`backup = "pgbackrest"`: a named restore point `schemaflow-<env>-<flow run id>` (preflight has checked
that archiving works and that a recent base backup exists), costing the same at any database size.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from db.backup.dump import backup_database, prune_backups, restore_command, verify_backup
from db.backup.pgbackrest import point_restore_command, take_restore_point
from db.connection.environments import Environment, get_environment
from tasks.reporting import artifact_key, publish_table, run_logger


@task(name="backup", task_run_name="backup-{environment}")
def backup(url: str, environment: str, url_in_restore_command: bool = False) -> dict[str, Any]:
    """Back up `environment`'s database; any failure raises and stops the run before apply.

    `url_in_restore_command`: the URL was given explicitly, so the restore command must name it (masked).
    """
    logger = run_logger()
    env = get_environment(environment)
    if env.backup == "pgbackrest":
        return _restore_point(url, env)
    result = backup_database(url, env)
    entries = verify_backup(result.path)
    pruned = prune_backups(env, result.manifest)
    info = {
        "path": str(result.path),
        "size_bytes": result.size_bytes,
        "seconds": round(result.seconds, 2),
        "verified": True,  # verify_backup raises when pg_restore cannot read the archive
        "entries": entries,
        "pruned": [str(p) for p in pruned],
        "stale_removed": [str(p) for p in result.stale_removed],
        "restores_removed": result.restores_removed,
        "restore_command": restore_command(env, result.path, url if url_in_restore_command else None),
    }
    for warning in result.warnings:
        logger.warning("pg_dump: %s", warning)
    for stale in result.stale_removed:
        logger.warning("removed %s, an unfinished backup left by a run that was killed", stale)
    for name in result.restores_removed:
        logger.warning("dropped database %s, left by a restore that was interrupted", name)
    logger.info(
        "backup %s (%d bytes, %.1f s) verified with pg_restore --list; pruned %d older",
        info["path"],
        info["size_bytes"],
        info["seconds"],
        len(pruned),
    )
    publish_table(
        table=[
            {
                "file": info["path"],
                "size_bytes": info["size_bytes"],
                "seconds": info["seconds"],
                "verified": "yes",
                "pruned": len(pruned),
                "restore": info["restore_command"],
            }
        ],
        key=artifact_key(environment, "backup"),
        description=f"Backup taken before migrating {environment}",
    )
    return info


def _restore_point(url: str, env: Environment) -> dict[str, Any]:
    from prefect.runtime import flow_run

    point = take_restore_point(url, env, flow_run.get_id())
    info: dict[str, Any] = {
        "strategy": "pgbackrest",
        "restore_point": point.name,
        "lsn": point.lsn,
        "created_at": point.created_at.isoformat(),
        "path": None,
        "restore_command": point_restore_command(env, point.name),
    }
    logger = run_logger()
    logger.info("restore point %s at %s (pgBackRest stanza %s)", point.name, point.lsn, env.pgbackrest_stanza)
    if not point.archived:
        logger.warning(
            "this role may not run pg_switch_wal(): restore point %s reaches the repository when its WAL "
            "segment fills or archive_timeout passes",
            point.name,
        )
    publish_table(
        table=[{"restore_point": point.name, "lsn": point.lsn, "restore": info["restore_command"]}],
        key=artifact_key(env.name, "backup"),
        description=f"Restore point created before migrating {env.name}",
    )
    return info


def record_restore_point(url: str, env: Environment, history_id: int, restore_point: str) -> None:
    """Write the run's restore point onto its migration_history row (the flow calls it after apply)."""
    from db.connection.connect import connect
    from db.deploy.history import record_restore_point as write_restore_point

    with connect(url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        write_restore_point(conn, history_id, restore_point)
