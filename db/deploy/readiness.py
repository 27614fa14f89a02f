"""Whether an environment is set up enough for its scheduled jobs: a first hour without red runs.

`make ui` deploys schedules for staging and production before anyone has stored their Secret blocks
or built their databases. A scheduled run then has nothing to do; failing would turn the dashboard
red and page people for a set-up step not yet taken. The deployments (flows/deployments.py) ask
here first and end such a run as Skipped with this reason, which names the step that switches the
job on. Anything else (a server that does not answer, a wrong password, a half-built schema) is a
real failure and still fails.
"""

from __future__ import annotations

from db.connection.credentials import SecretLoader, SecretMissing
from db.connection.environments import Environment
from db.connection.target import resolve_target


def not_set_up_reason(env: Environment, secret_loader: SecretLoader, *, needs_schema: bool) -> str | None:
    """Why `env`'s scheduled job has nothing to do yet (no Secret block; with `needs_schema`, none of
    the master file's tables built), with what switches it on; None when it is set up."""
    try:
        target = resolve_target(env, None, secret_loader)
    except SecretMissing as exc:
        return (
            f"environment {env.name!r} is not set up: {exc.message}. "
            f"Switch it on with: schemaflow secrets set {env.name}"
        )
    if not needs_schema:
        return None
    from db.deploy.apply import target_is_empty  # pglast and psycopg: only once a URL is known
    from db.schema.master_file import read_schema

    if target_is_empty(target.url, read_schema(), connect_timeout=env.connect_timeout) and not _ever_migrated(
        target.url, env.connect_timeout
    ):
        return (
            f"environment {env.name!r} is not built yet: {target.masked} has none of the master file's "
            f"tables. Switch it on by deploying it: schemaflow migrate --env {env.name} "
            f"(or run the migrate/{env.name} deployment)"
        )
    return None


def _ever_migrated(url: str, connect_timeout: int) -> bool:
    """A successful migrate is recorded: a database that lost its tables is an incident, not a first hour."""
    import psycopg

    from db.connection.connect import connect

    try:
        with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
            row = conn.execute("SELECT to_regclass('schemaflow.migration_history') IS NOT NULL").fetchone()
            if not (row and row[0]):
                return False
            found = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM schemaflow.migration_history WHERE outcome = 'success')"
            ).fetchone()
            return bool(found and found[0])
    except psycopg.Error:
        return True  # what cannot be read is not proof of a first hour: the job runs and says why
