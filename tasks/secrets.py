"""Reading a database URL from a Prefect Secret block (db/ cannot import Prefect, so it is passed in).

Every failure says its real reason (SecretUnavailable): the server did not answer, or the block does
not exist. Nothing here returns None for "could not ask", so resolution fails closed.
"""

from __future__ import annotations

from prefect.logging import get_logger
from pydantic import SecretStr

from db.connection.credentials import SecretMissing, SecretUnavailable
from db.connection.environments import Environment
from db.connection.target import Target, resolve_target
from db.connection.urls import mask_url

logger = get_logger("schemaflow.secrets")
FIX_SERVER = "start the local server with `make ui`, or set PREFECT_API_URL=http://HOST:4200/api"


def read_secret_block(name: str, api_url: str | None = None) -> str | None:
    """The value of Secret block `name` on `api_url` (default: the current Prefect settings' server)."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    updates = {PREFECT_API_URL: api_url} if api_url else {}
    where = api_url or str(PREFECT_API_URL.value() or "the flow's Prefect server")
    with temporary_settings(updates=updates):
        try:
            value = Secret.load(name).get()  # type: ignore[union-attr]
        except ValueError as exc:
            if "unable to find" in str(exc).lower() or "not found" in str(exc).lower():
                # No hint: the caller knows the environment and names `schemaflow secrets set ENV`.
                raise SecretMissing(f"block {name!r} not found on the Prefect server at {where}") from None
            raise SecretUnavailable(f"block {name!r} could not be read: {mask_url(str(exc))[:160]}") from None
        except Exception as exc:  # httpx / API errors: the server did not answer as a server should
            logger.debug("secret block %r: %s", name, type(exc).__name__)
            raise SecretUnavailable(
                f"Prefect server at {where} unreachable ({type(exc).__name__})", hint=FIX_SERVER
            ) from None
    return str(value) if value else None


def load_secret(name: str) -> str | None:
    """The loader a flow run uses: the block from the server this run reports to."""
    return read_secret_block(name)


def resolve_flow_target(env: Environment, database_url: SecretStr | None) -> Target:
    """The database a flow runs against, in the CLI's order (db/connection/credentials.py): the flow's
    `database_url` parameter, else the environment's Secret block (fail closed), else its variables.

    Takes the Environment rather than its name: migrate needs the environment's report_log before
    the URL is resolved, so that a run without a usable URL still writes its report.
    """
    # Flow parameters hold the URL as a SecretStr so Prefect stores and shows it masked.
    explicit = database_url.get_secret_value() if database_url else None
    return resolve_target(env, explicit, load_secret)
