"""The application's connection pools (formerly src/database/postgres.py): a primary and an optional replica.

    from db.connection.pools import get_primary_pool, get_replica_pool, close_pools
    with get_primary_pool().connection() as conn: ...
    with get_replica_pool().connection() as conn: ...   # the primary when no replica is configured

Settings come from the environment: DATABASE_URL or POSTGRES_HOST/PORT/USER/PASSWORD/DATABASE for the
primary; POSTGRES_READ_REPLICA_HOST (and _PORT) for a replica reached with the same credentials;
POSTGRES_POOL_MIN_SIZE / POSTGRES_POOL_MAX_SIZE (default 5 / 20). Pools open lazily, once per process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

from psycopg_pool import ConnectionPool

from db.connection.credentials import url_from_postgres_vars
from db.connection.urls import libpq_url, mask_url, require_tls_off_loopback
from db.errors import ConfigError

DEFAULT_MIN_SIZE = 5
DEFAULT_MAX_SIZE = 20
POOL_TIMEOUT_S = 30.0

_lock = threading.Lock()
_pools: dict[str, ConnectionPool] = {}


def primary_url(environ: Mapping[str, str] | None = None) -> str:
    """The primary's URL from DATABASE_URL or POSTGRES_*; ConfigError when neither is set."""
    environ = os.environ if environ is None else environ
    url = environ.get("DATABASE_URL", "").strip() or url_from_postgres_vars(environ)
    if not url:
        raise ConfigError(
            "no database configured for the application pools",
            hint="set DATABASE_URL, or POSTGRES_HOST/PORT/USER/PASSWORD/DATABASE",
        )
    require_tls_off_loopback(url, allow_insecure=environ.get("POSTGRES_ALLOW_INSECURE", "") == "true")
    return url


def replica_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The read replica's URL (the primary's with another host/port), or None when not configured."""
    environ = os.environ if environ is None else environ
    host = environ.get("POSTGRES_READ_REPLICA_HOST", "").strip()
    if not host:
        return None
    parts = urlsplit(primary_url(environ))
    port = environ.get("POSTGRES_READ_REPLICA_PORT", "").strip() or str(parts.port or 5432)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    url = parts._replace(netloc=f"{auth}{host}:{port}").geturl()
    require_tls_off_loopback(url, allow_insecure=environ.get("POSTGRES_ALLOW_INSECURE", "") == "true")
    return url


def pool_sizes(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(min, max) from POSTGRES_POOL_MIN_SIZE / POSTGRES_POOL_MAX_SIZE, checked."""
    environ = os.environ if environ is None else environ
    try:
        low = int(environ.get("POSTGRES_POOL_MIN_SIZE", DEFAULT_MIN_SIZE))
        high = int(environ.get("POSTGRES_POOL_MAX_SIZE", DEFAULT_MAX_SIZE))
    except ValueError:
        raise ConfigError("POSTGRES_POOL_MIN_SIZE and POSTGRES_POOL_MAX_SIZE must be whole numbers") from None
    if not 0 <= low <= high or high < 1:
        raise ConfigError(
            f"pool sizes min={low} max={high} are inconsistent", hint="need 0 <= min <= max, max >= 1"
        )
    return low, high


def get_primary_pool() -> ConnectionPool:
    """The process-wide pool for the primary, opened on first use."""
    return _get("primary", primary_url)


def get_replica_pool() -> ConnectionPool:
    """The pool for reads: the replica when POSTGRES_READ_REPLICA_HOST is set, else the primary."""
    url = replica_url()
    return _get("replica", lambda: url) if url else get_primary_pool()


def close_pools() -> None:
    """Close every pool (at shutdown, or in tests between configurations)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def _get(name: str, url_of) -> ConnectionPool:  # type: ignore[no-untyped-def]
    with _lock:
        pool = _pools.get(name)
        if pool is None:
            url = url_of()
            low, high = pool_sizes()
            pool = ConnectionPool(
                libpq_url(url),
                min_size=low,
                max_size=high,
                timeout=POOL_TIMEOUT_S,
                name=f"schemaflow-{name}",
                kwargs={"application_name": f"schemaflow-{name}"},
                open=False,
            )
            try:
                pool.open(wait=False)
            except Exception as exc:
                raise ConfigError(
                    f"could not open the {name} pool for {mask_url(url)}: {mask_url(str(exc))}"
                ) from None
            _pools[name] = pool
        return pool
