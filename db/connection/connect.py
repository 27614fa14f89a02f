"""Opening connections: one place that sets timeouts and turns libpq failures into actionable errors."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from db.connection.sources import LOCAL_SOURCE, source_of
from db.connection.urls import libpq_url, mask_url, validate_url
from db.errors import ConnectionFailed

DEFAULT_CONNECT_TIMEOUT = 10
APPLICATION_NAME = "schemaflow"
# Client-side TCP keepalives: a server host that vanished (failover, cable) is noticed in about 45 s
# instead of the kernel's 2 h default; a URL that sets its own keepalive parameters keeps them.
TCP_KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}


def connect(
    url: str,
    *,
    autocommit: bool = False,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    application_name: str = APPLICATION_NAME,
) -> psycopg.Connection:
    """Validate `url` and connect; raise ConnectionFailed (password masked, with a fix) on failure."""
    parts = validate_url(url)
    conninfo = libpq_url(url)
    given = conninfo_to_dict(conninfo)
    keepalives = {k: v for k, v in TCP_KEEPALIVES.items() if k not in given}
    try:
        return psycopg.connect(
            make_conninfo(conninfo, **keepalives),
            autocommit=autocommit,
            connect_timeout=connect_timeout,
            application_name=application_name,
        )
    except psycopg.OperationalError as exc:
        raise explain_connection_error(exc, url, parts, connect_timeout) from None


def explain_connection_error(
    exc: Exception, url: str, parts: dict[str, str], connect_timeout: int
) -> ConnectionFailed:
    """Map a libpq error to a one-line message and a hint, without the password."""
    text = str(exc).strip()
    where = f"{parts['host']}:{parts['port']}/{parts['database']}"
    last = mask_url(text.splitlines()[-1].strip() if text else type(exc).__name__)
    source = source_of(url)
    if "password authentication failed" in text or "no password supplied" in text:
        return ConnectionFailed(
            f"authentication failed for user {parts['user'] or '(default)'!r} at {where}",
            hint=f"check the user name and the password in {source}"
            if source
            else "check the user name and the password in DATABASE_URL / POSTGRES_PASSWORD or the "
            "environment's Secret block",
        )
    if source == LOCAL_SOURCE and ("Connection refused" in text or "No such file" in text):
        return ConnectionFailed(
            f"the embedded local cluster at {parts['host']}:{parts['port']} is not running",
            hint="start it with `schemaflow local-db start` (`make run` starts it too)",
        )
    if "does not exist" in text and "database" in text:
        return ConnectionFailed(
            f"database {parts['database']!r} does not exist on {parts['host']}:{parts['port']}",
            hint=f"create it (createdb {parts['database']}) or fix the database name in the URL",
        )
    if "timeout expired" in text or "timed out" in text:
        return ConnectionFailed(
            f"no answer from {parts['host']}:{parts['port']} within {connect_timeout} s",
            hint="check the host and port, the firewall, and that the server is running",
        )
    if "Connection refused" in text or "could not translate host name" in text or "No route" in text:
        return ConnectionFailed(
            f"cannot reach a PostgreSQL server at {parts['host']}:{parts['port']}: {last}",
            hint="check the host and port, and that the server is running",
        )
    return ConnectionFailed(f"could not connect to {mask_url(url)}: {last}")
