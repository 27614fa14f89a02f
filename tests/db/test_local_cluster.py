"""The embedded local cluster starts, restarts, reports status, stops, and survives a stale pid file."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from db.errors import LocalClusterError
from db.local.cluster import LocalCluster, free_port


@pytest.fixture
def cluster() -> LocalCluster:
    base = Path(tempfile.mkdtemp(prefix="schemaflow-lc-"))
    base.chmod(0o755)
    c = LocalCluster(datadir=base / "pgdata", port=free_port())
    yield c
    c.destroy()


def _preload(url: str) -> str:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SHOW shared_preload_libraries").fetchone()[0]


def test_lifecycle_start_twice_status_restart_stop(cluster: LocalCluster) -> None:
    assert cluster.status() is False
    assert cluster.start() is True
    assert cluster.start() is False  # starting twice is harmless
    assert cluster.status() is True
    assert cluster.ensure_database() is True
    assert cluster.ensure_database() is False
    url = cluster.url()
    assert "timescaledb" in _preload(url)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("CREATE TABLE kept (id int)")
        conn.execute("INSERT INTO kept VALUES (42)")
        conn.commit()
        assert conn.execute("SHOW timescaledb.telemetry_level").fetchone()[0] == "off"
    cluster.restart()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT id FROM kept").fetchone()[0] == 42
    assert cluster.stop() is True
    assert cluster.status() is False
    assert cluster.stop() is False


def test_stale_pid_file_is_handled(cluster: LocalCluster) -> None:
    cluster.start()
    pid = int((cluster.datadir / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    assert (cluster.datadir / "postmaster.pid").exists()
    assert cluster.start() is True
    assert "timescaledb" in _preload(cluster.url("postgres"))


def test_password_is_required_over_tcp(cluster: LocalCluster) -> None:
    cluster.start()
    bad = cluster.url("postgres").replace(cluster.password_file.read_text().strip(), "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=5)


def test_port_taken_is_a_clear_error(cluster: LocalCluster, pg_cluster: LocalCluster) -> None:
    taken = LocalCluster(datadir=cluster.datadir, port=pg_cluster.port)
    with pytest.raises(LocalClusterError, match=r"port .* is taken"):
        taken.start()


def test_fixture_database_has_timescaledb_available(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        assert row is not None, "timescaledb is not installed for PostgreSQL 15"
        conn.execute("CREATE EXTENSION timescaledb")
        assert conn.execute("SHOW timescaledb.license").fetchone()[0] == "apache"
        conn.execute("CREATE TABLE ev (time timestamptz NOT NULL, v int)")
        conn.execute("SELECT create_hypertable('ev', 'time')")
        n = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone()[0]
        assert n == 1


def test_plain_cluster_does_not_preload(plain_db_url: str) -> None:
    assert _preload(plain_db_url) == ""
    with psycopg.connect(plain_db_url) as conn, pytest.raises(psycopg.Error):
        conn.execute("CREATE EXTENSION timescaledb")
