"""Test fixtures: real PostgreSQL 15 + TimescaleDB clusters started by the tests themselves.

- `pg_cluster`: a throwaway cluster with TimescaleDB (Apache build) preloaded, once per session.
- `db_url`: a fresh, empty database on it for each test that asks.
- `plain_cluster` / `plain_db_url`: a cluster without TimescaleDB preloaded (a managed host without it).
- `tsl_url`: the TSL lane (PGlite WASM), reset before each test; skipped with a printed reason when
  Node or its packages are missing, except in CI where a missing lane is a failure.
- `prefect_harness`: one temporary Prefect server for the whole session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# Set before Prefect is imported anywhere: offline telemetry otherwise logs errors.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="schemaflow-prefect-home-"))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# A CLI run without a server uses Prefect's per-process one instead of leaving a background server.
os.environ.setdefault("SCHEMAFLOW_PREFECT_SERVER", "temporary")

import psycopg
import pytest
from psycopg import sql

from db.connection.urls import with_database
from db.local.cluster import LocalCluster, free_port
from tests.support.pglite import PgliteServer, lane_unavailable_reason

IN_CI = os.environ.get("CI", "").lower() == "true"


def _make_cluster(tmp_root: Path, preload: bool) -> LocalCluster:
    base = Path(tempfile.mkdtemp(prefix="schemaflow-test-pg-", dir=tmp_root))
    base.chmod(0o755)  # the server runs as the postgres OS user when tests run as root
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=preload)
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """A PostgreSQL 15 cluster with TimescaleDB preloaded, for the whole session."""
    cluster = _make_cluster(Path(tempfile.gettempdir()), preload=True)
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def plain_cluster() -> Iterator[LocalCluster]:
    """A PostgreSQL 15 cluster where TimescaleDB is installed but not preloaded."""
    cluster = _make_cluster(Path(tempfile.gettempdir()), preload=False)
    yield cluster
    cluster.destroy()


def create_database(cluster: LocalCluster, prefix: str = "t") -> str:
    """Create an empty database on `cluster` and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.url(name)


def drop_database(cluster: LocalCluster, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def seeded_url(pg_cluster: LocalCluster) -> Iterator[str]:
    """A copy of the cluster's migrated, seeded template database (dropped afterwards)."""
    from tests.support.seeded import clone_template  # builds the template on first use

    url = clone_template(pg_cluster)
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture
def db_url(pg_cluster: LocalCluster) -> Iterator[str]:
    """A fresh empty database on the TimescaleDB cluster."""
    url = create_database(pg_cluster)
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture
def plain_db_url(plain_cluster: LocalCluster) -> Iterator[str]:
    """A fresh empty database on the cluster without TimescaleDB preloaded."""
    url = create_database(plain_cluster)
    yield url
    drop_database(plain_cluster, url)


@pytest.fixture
def admin_url(pg_cluster: LocalCluster) -> str:
    """The superuser URL of the TimescaleDB cluster's `postgres` database."""
    return with_database(pg_cluster.url("postgres"), "postgres")


@pytest.fixture(scope="session")
def pglite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgliteServer]:
    """The TSL lane's server, started once; skipped (with its reason) where it cannot run."""
    reason = lane_unavailable_reason()
    if reason:
        if IN_CI and shutil.which("node"):
            pytest.fail(f"TSL lane missing in CI: {reason}")
        print(f"\nSKIP TSL lane: {reason}")
        pytest.skip(reason)
    server = PgliteServer(free_port(), tmp_path_factory.mktemp("pglite") / "pglite.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tsl_url(pglite_server: PgliteServer) -> str:
    """The TSL lane's only database, emptied before the test."""
    pglite_server.reset()
    return pglite_server.url


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server (SQLite) for every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
