"""Loading a database URL from a Prefect Secret block (db/ cannot import Prefect, so it is passed in)."""

from __future__ import annotations

from prefect.logging import get_logger
from pydantic import SecretStr

from db.connection.credentials import ResolvedUrl, resolve_database_url
from db.connection.environments import Environment

logger = get_logger("schemaflow.secrets")


def load_secret(name: str) -> str | None:
    """The value of Secret block `name`, or None when the block or the Prefect API is not reachable."""
    try:
        from prefect.blocks.system import Secret

        value = Secret.load(name).get()  # type: ignore[union-attr]
    except Exception as exc:  # a missing block, no API server, a wrong block type: all mean "not here"
        logger.debug("secret block %r not available: %s", name, type(exc).__name__)
        return None
    return str(value) if value else None


def resolve_flow_target(env: Environment, database_url: SecretStr | None) -> ResolvedUrl:
    """The database a flow runs against, in the CLI's order (db/connection/credentials.py): the flow's
    `database_url` parameter, then the environment's Secret block, then its variables.

    Takes the Environment rather than its name: migrate needs the environment's report_log before
    the URL is resolved, so that a run without a usable URL still writes its report.
    """
    # Flow parameters hold the URL as a SecretStr so Prefect stores and shows it masked.
    explicit = database_url.get_secret_value() if database_url else None
    return resolve_database_url(env, explicit_url=explicit, secret_loader=load_secret)
