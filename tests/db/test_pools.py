"""The application's pools: primary from DATABASE_URL, a replica pool only when one is configured."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from db.connection import pools
from db.errors import ConfigError

POOL_VARS = (
    "DATABASE_URL",
    "POSTGRES_HOST",
    "POSTGRES_READ_REPLICA_HOST",
    "POSTGRES_READ_REPLICA_PORT",
    "POSTGRES_POOL_MIN_SIZE",
    "POSTGRES_POOL_MAX_SIZE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in POOL_VARS:
        monkeypatch.delenv(name, raising=False)
    pools.close_pools()
    yield
    pools.close_pools()


def test_primary_pool_opens_min_connections_and_replica_falls_back(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    primary = pools.get_primary_pool()
    primary.wait(timeout=20)
    assert primary.min_size == 5 and primary.max_size == 20
    assert primary.get_stats()["pool_size"] >= 5
    with primary.connection() as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (urlsplit(db_url).path[1:],)
    assert pools.get_replica_pool() is primary
    assert pools.get_primary_pool() is primary


def test_replica_pool_uses_the_replica_host_and_sizes_from_env(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = urlsplit(db_url)
    # The replica is the same server reached as "localhost": a different pool, same credentials.
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("POSTGRES_READ_REPLICA_HOST", "localhost")
    monkeypatch.setenv("POSTGRES_READ_REPLICA_PORT", str(parts.port))
    monkeypatch.setenv("POSTGRES_POOL_MIN_SIZE", "1")
    monkeypatch.setenv("POSTGRES_POOL_MAX_SIZE", "2")
    replica = pools.get_replica_pool()
    assert replica is not pools.get_primary_pool()
    assert (replica.min_size, replica.max_size) == (1, 2)
    with replica.connection() as conn:
        assert conn.info.host == "localhost"
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_no_configuration_and_bad_sizes_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="set DATABASE_URL"):
        pools.get_primary_pool()
    monkeypatch.setenv("POSTGRES_HOST", "127.0.0.1")
    with pytest.raises(ConfigError, match="names no database"):
        pools.get_primary_pool()
    monkeypatch.setenv("POSTGRES_DATABASE", "app")
    monkeypatch.setenv("POSTGRES_POOL_MIN_SIZE", "30")
    with pytest.raises(ConfigError, match="min=30 max=20"):
        pools.get_primary_pool()
