"""Where the URL comes from (in order), the TLS rule, and that the password never shows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
import pytest

from db.connection.credentials import SecretUnavailable
from db.connection.environments import Environment, get_environment
from db.connection.target import resolve_target
from db.errors import ConfigError
from db.local.cluster import LocalCluster

PASSWORD = "Zq9-distinctive-pw"
VARS = (
    "DATABASE_URL",
    "STAGING_DATABASE_URL",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DATABASE",
    "POSTGRES_DB",
    "POSTGRES_SSLMODE",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGSSLMODE",
)


@pytest.fixture
def staging(monkeypatch: pytest.MonkeyPatch) -> Environment:
    """Staging as environments.toml has it: its URL comes from a Secret block."""
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    return dataclasses.replace(get_environment("staging"), database_url_env="STAGING_DATABASE_URL")


@pytest.fixture
def by_variables(staging: Environment) -> Environment:
    """An environment without a Secret block: its URL comes from variables."""
    return dataclasses.replace(staging, secret_block=None)


def _set_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_DATABASE_URL", "postgresql://u@127.0.0.1/from_env_var")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/from_database_url")
    monkeypatch.setenv("POSTGRES_HOST", "127.0.0.1")
    monkeypatch.setenv("POSTGRES_DATABASE", "from_postgres_vars")
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGDATABASE", "from_pg_vars")


def test_resolution_order(by_variables: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_all(monkeypatch)
    assert resolve_target(by_variables, "postgresql://u@127.0.0.1/explicit").url.endswith("/explicit")
    steps = [
        (None, "STAGING_DATABASE_URL", "from_env_var"),
        ("STAGING_DATABASE_URL", "DATABASE_URL", "from_database_url"),
        ("DATABASE_URL", "POSTGRES_* variables", "from_postgres_vars"),
        ("POSTGRES_HOST", "libpq PG* variables", "from_pg_vars"),
    ]
    for unset, source, database in steps:
        if unset:
            monkeypatch.delenv(unset)
        resolved = resolve_target(by_variables)
        assert resolved.source == source
        assert resolved.params["dbname"] == database
    monkeypatch.delenv("PGHOST")
    with pytest.raises(ConfigError, match="no database URL for environment 'staging'") as info:
        resolve_target(by_variables)
    assert "DATABASE_URL unset" in info.value.message and "PGHOST and PGSERVICE unset" in info.value.message


def test_a_secret_block_environment_uses_the_block_and_nothing_else(
    staging: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set_all(monkeypatch)  # every variable set: none of them may be used

    def secret(_name: str) -> str:
        return "postgresql://u@127.0.0.1/from_secret"

    resolved = resolve_target(staging, None, secret)
    assert resolved.source == "secret block 'schemaflow-staging-database-url'"
    assert resolved.params["dbname"] == "from_secret" and resolved.environment == staging
    explicit = resolve_target(staging, "postgresql://u@127.0.0.1/explicit", secret)
    assert explicit.source == "--database-url"  # an explicit --database-url still overrides


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (SecretUnavailable("Prefect server at http://127.0.0.1:9/api unreachable"), "unreachable"),
        (SecretUnavailable("block 'schemaflow-staging-database-url' not found"), "not found"),
        (None, "the block is empty"),
        ("", "the block is empty"),
    ],
)
def test_a_secret_block_that_cannot_be_read_stops_with_the_real_reason(
    staging: Environment, monkeypatch: pytest.MonkeyPatch, reason: object, expected: str
) -> None:
    _set_all(monkeypatch)

    def loader(_name: str) -> str | None:
        if isinstance(reason, Exception):
            raise reason
        return reason  # type: ignore[return-value]

    with pytest.raises(SecretUnavailable) as info:
        resolve_target(staging, None, loader)
    message = info.value.message
    assert expected in message and "nothing was touched" in message
    assert "empty or missing" not in message and "from_database_url" not in message
    assert "schemaflow secrets set staging" in (info.value.hint or "") or "make ui" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="nothing here can read Prefect blocks"):
        resolve_target(staging, None, None)  # no loader at all: still never the variables


def test_postgres_vars_quote_the_password(by_variables: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "127.0.0.1")
    monkeypatch.setenv("POSTGRES_PORT", "6543")
    monkeypatch.setenv("POSTGRES_USER", "app")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p@ss/w:rd?#")
    monkeypatch.setenv("POSTGRES_DB", "podcasts")
    resolved = resolve_target(by_variables)
    conninfo = psycopg.conninfo.conninfo_to_dict(resolved.url)
    assert conninfo == {
        "user": "app",
        "password": "p@ss/w:rd?#",
        "host": "127.0.0.1",
        "port": "6543",
        "dbname": "podcasts",
    }


def test_libpq_vars_leave_the_password_to_libpq(
    by_variables: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGHOST", "/var/run/postgresql")
    monkeypatch.setenv("PGUSER", "app")
    monkeypatch.setenv("PGPORT", "5433")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    resolved = resolve_target(by_variables)
    conninfo = psycopg.conninfo.conninfo_to_dict(resolved.url)
    assert conninfo["host"] == "/var/run/postgresql" and conninfo["dbname"] == "app"
    assert conninfo["port"] == "5433" and "password" not in conninfo


def test_local_environment_ignores_variables_and_uses_the_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example.com/prod?sslmode=require")
    monkeypatch.setenv("SCHEMAFLOW_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("SCHEMAFLOW_LOCAL_PORT", "54999")
    resolved = resolve_target(get_environment("local"))
    assert resolved.source == "the embedded local cluster"
    assert resolved.url == LocalCluster(tmp_path / "pgdata", 54999).url()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("postgresql://u@db.example.com/app", False),
        ("postgresql://u@db.example.com/app?sslmode=prefer", False),
        ("postgresql://u@db.example.com/app?sslmode=require", True),
        ("postgresql://u@db.example.com/app?sslmode=verify-full", True),
        ("postgresql://u@127.0.0.1/app", True),
        ("postgresql://u@localhost/app", True),
    ],
)
def test_tls_required_off_loopback(staging: Environment, url: str, allowed: bool) -> None:
    if allowed:
        assert resolve_target(staging, url).url == url
    else:
        with pytest.raises(ConfigError, match="does not require TLS"):
            resolve_target(staging, url)
        insecure = dataclasses.replace(staging, allow_insecure=True)
        assert resolve_target(insecure, url).url == url


def test_password_never_in_str_repr_or_errors(
    by_variables: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = by_variables
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # libpq's variable: the target's params leave it out too
    resolved = resolve_target(staging, f"postgresql://app:{PASSWORD}@127.0.0.1:5432/db")
    for text in (str(resolved), repr(resolved), f"{resolved}", str([resolved]), resolved.describe()):
        assert PASSWORD not in text
    assert "***" in str(resolved) and "***" in repr(resolved)
    assert "password" not in resolved.params and PASSWORD not in str(dict(resolved.params))
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app:{PASSWORD}@db.example.com/db")
    with pytest.raises(ConfigError, match="does not require TLS") as info:
        resolve_target(staging)
    assert PASSWORD not in str(info.value)
    with pytest.raises(ConfigError, match="names no database") as info:
        resolve_target(staging, f"postgresql://app:{PASSWORD}@127.0.0.1:5432")
    assert PASSWORD not in str(info.value)
