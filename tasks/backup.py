"""The backup task: pg_dump the target, prove the dump is readable, prune old ones; no backup, no apply."""

from __future__ import annotations

from typing import Any

from prefect import task

from db.backup.dump import backup_database, prune_backups, restore_command, verify_backup
from db.connection.environments import get_environment
from tasks.reporting import artifact_key, publish_table, run_logger


@task(name="backup", task_run_name="backup-{environment}")
def backup(url: str, environment: str, url_in_restore_command: bool = False) -> dict[str, Any]:
    """Back up `environment`'s database; any failure raises and stops the run before apply.

    `url_in_restore_command`: the URL was given explicitly, so the restore command must name it (masked).
    """
    logger = run_logger()
    env = get_environment(environment)
    result = backup_database(url, env)
    entries = verify_backup(result.path)
    pruned = prune_backups(env)
    info = {
        "path": str(result.path),
        "size_bytes": result.size_bytes,
        "seconds": round(result.seconds, 2),
        "verified": True,  # verify_backup raises when pg_restore cannot read the archive
        "entries": entries,
        "pruned": [str(p) for p in pruned],
        "stale_removed": [str(p) for p in result.stale_removed],
        "restore_command": restore_command(env, result.path, url if url_in_restore_command else None),
    }
    for warning in result.warnings:
        logger.warning("pg_dump: %s", warning)
    for stale in result.stale_removed:
        logger.warning("removed %s, an unfinished backup left by a run that was killed", stale)
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
