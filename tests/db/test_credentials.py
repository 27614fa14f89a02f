"""Where the URL comes from (in order), the TLS rule, and that the password never shows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
import pytest

from db.connection.credentials import resolve_database_url
from db.connection.environments import Environment, get_environment
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
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    return dataclasses.replace(get_environment("staging"), database_url_env="STAGING_DATABASE_URL")


def _set_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_DATABASE_URL", "postgresql://u@127.0.0.1/from_env_var")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/from_database_url")
    monkeypatch.setenv("POSTGRES_HOST", "127.0.0.1")
    monkeypatch.setenv("POSTGRES_DATABASE", "from_postgres_vars")
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGDATABASE", "from_pg_vars")


def test_resolution_order(staging: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    _set_all(monkeypatch)

    def secret(_name: str) -> str:
        return "postgresql://u@127.0.0.1/from_secret"

    def explicit() -> str:
        return resolve_database_url(staging, "postgresql://u@127.0.0.1/explicit", secret).url

    assert explicit().endswith("/explicit")
    assert (
        resolve_database_url(staging, None, secret).source == "secret block 'schemaflow-staging-database-url'"
    )
    steps = [
        (None, "STAGING_DATABASE_URL", "STAGING_DATABASE_URL", "from_env_var"),
        ("STAGING_DATABASE_URL", "DATABASE_URL", "DATABASE_URL", "from_database_url"),
        ("DATABASE_URL", "POSTGRES_HOST", "POSTGRES_* variables", "from_postgres_vars"),
        ("POSTGRES_HOST", "PGHOST", "libpq PG* variables", "from_pg_vars"),
    ]
    for unset, _next, source, database in steps:
        if unset:
            monkeypatch.delenv(unset)
        resolved = resolve_database_url(staging, None, lambda _n: None)
        assert resolved.source == source
        assert resolved.url.split("?")[0].endswith("/" + database)
    monkeypatch.delenv("PGHOST")
    with pytest.raises(ConfigError, match="no database URL for environment 'staging'") as info:
        resolve_database_url(staging)
    assert "DATABASE_URL unset" in info.value.message and "PGHOST unset" in info.value.message


def test_unreachable_secret_block_falls_through_and_says_why(
    staging: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db")

    def broken(name: str) -> str:
        raise RuntimeError(f"Unable to find block document named {name}")

    resolved = resolve_database_url(staging, None, broken)
    assert resolved.source == "DATABASE_URL"
    assert any("Unable to find block" in reason for reason in resolved.skipped)


def test_postgres_vars_quote_the_password(staging: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "127.0.0.1")
    monkeypatch.setenv("POSTGRES_PORT", "6543")
    monkeypatch.setenv("POSTGRES_USER", "app")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p@ss/w:rd?#")
    monkeypatch.setenv("POSTGRES_DB", "podcasts")
    resolved = resolve_database_url(staging)
    conninfo = psycopg.conninfo.conninfo_to_dict(resolved.url)
    assert conninfo == {
        "user": "app",
        "password": "p@ss/w:rd?#",
        "host": "127.0.0.1",
        "port": "6543",
        "dbname": "podcasts",
    }


def test_libpq_vars_leave_the_password_to_libpq(
    staging: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGHOST", "/var/run/postgresql")
    monkeypatch.setenv("PGUSER", "app")
    monkeypatch.setenv("PGPORT", "5433")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    resolved = resolve_database_url(staging)
    conninfo = psycopg.conninfo.conninfo_to_dict(resolved.url)
    assert conninfo["host"] == "/var/run/postgresql" and conninfo["dbname"] == "app"
    assert conninfo["port"] == "5433" and "password" not in conninfo


def test_local_environment_ignores_variables_and_uses_the_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example.com/prod?sslmode=require")
    monkeypatch.setenv("SCHEMAFLOW_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("SCHEMAFLOW_LOCAL_PORT", "54999")
    resolved = resolve_database_url(get_environment("local"))
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
        assert resolve_database_url(staging, url).url == url
    else:
        with pytest.raises(ConfigError, match="does not require TLS"):
            resolve_database_url(staging, url)
        insecure = dataclasses.replace(staging, allow_insecure=True)
        assert resolve_database_url(insecure, url).url == url


def test_password_never_in_str_repr_or_errors(staging: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    resolved = resolve_database_url(staging, f"postgresql://app:{PASSWORD}@127.0.0.1:5432/db")
    for text in (str(resolved), repr(resolved), f"{resolved}", str([resolved])):
        assert PASSWORD not in text
        assert "***" in text
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app:{PASSWORD}@db.example.com/db")
    with pytest.raises(ConfigError) as info:
        resolve_database_url(staging)
    assert PASSWORD not in str(info.value)
    with pytest.raises(ConfigError, match="names no database") as info:
        resolve_database_url(staging, f"postgresql://app:{PASSWORD}@127.0.0.1:5432")
    assert PASSWORD not in str(info.value)
