"""Loading a database URL from a Prefect Secret block (db/ cannot import Prefect, so it is passed in)."""

from __future__ import annotations

from prefect.logging import get_logger

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
