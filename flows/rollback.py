"""The `rollback` flow: preflight -> backup -> down sections newest first, for one environment.

The same path as migrate: the environment's preflight (confirmation where required), its backup,
the migration lock, and both histories (a 'rollback' row per file, a run row in migration_history).
An environment that requires approval or confirmation needs confirm=true (the CLI's --yes or a typed
yes); without it the run stops before any change.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from pydantic import SecretStr

from db.connection.environments import get_environment
from db.deploy.confirmation import CONFIRMATION_HINT, flow_confirmation
from db.errors import CheckFailed
from tasks.backup import backup
from tasks.concurrency import migrate_slot
from tasks.preflight import preflight
from tasks.rollback import rollback_versions
from tasks.secrets import resolve_flow_target


@flow(name="rollback", log_prints=False)
def rollback(
    environment: str = "local",
    to_version: str = "0",
    confirm: bool = False,
    confirmed_by: str | None = None,
    database_url: SecretStr | None = None,
) -> dict[str, Any]:
    """Undo the one-offs applied after a version.

    Args:
        environment: Name of an environment in environments.toml.
        to_version: Keep this version and older; undo every newer applied one-off (0: all of them).
        confirm: Required where the environment requires confirmation or approval.
        confirmed_by: Set by the CLI: where its confirmation came from.
        database_url: Override the environment's connection (stored masked).

    Returns:
        The versions undone and the backup taken before.
    """
    logger = get_run_logger()
    env = get_environment(environment)
    if (env.require_confirmation or env.require_approval) and not confirm:
        raise CheckFailed(
            f"rolling back {environment!r} needs confirmation; nothing was changed",
            hint=f"re-run with --yes ({CONFIRMATION_HINT})",
        )
    resolved = resolve_flow_target(env, database_url)
    url = resolved.url
    with migrate_slot(environment):  # never beside a migrate of the same environment
        preflight(
            url, environment, flow_confirmation(confirm, confirmed_by) or "not needed for this environment"
        )
        taken = (
            backup(url, environment, url_in_restore_command=resolved.source == "--database-url")
            if (env.require_backup)
            else None
        )
        result = rollback_versions(url, environment, to_version)
    logger.info("rollback of %s to %s: %s", environment, to_version, result.undone or "nothing to undo")
    return {
        "environment": environment,
        "to_version": to_version,
        "undone": result.undone,
        "backup": (taken or {}).get("path"),
        "restore_command": (taken or {}).get("restore_command"),
    }
