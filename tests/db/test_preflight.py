"""Preflight rows against real servers: pass, missing TimescaleDB, replica, lock held, blockers, role."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from db.connection.environments import Environment, get_environment
from db.connection.urls import with_database
from db.deploy.check_result import CheckResult
from db.deploy.lock import MIGRATION_LOCK_KEY, describe_lock_holder, hold_migration_lock
from db.errors import MigrationLocked
from db.local.cluster import PG_BIN, LocalCluster, _chown_to_server_user, _server_user, free_port
from db.run.preflight import preflight_failed, run_preflight

CHECKS = [
    "url valid",
    "server reachable",
    "postgresql version",
    "timescaledb",
    "not a read replica",
    "create privilege",
    "migration lock",
    "blocking transactions",
    "one-off migrations",
    "confirmation",
]


def by_name(rows: list[CheckResult]) -> dict[str, CheckResult]:
    assert [row.name for row in rows] == CHECKS
    return {row.name: row for row in rows}


@pytest.fixture
def production() -> Environment:
    return get_environment("production")


def test_fixture_database_passes_every_check(db_url: str, production: Environment) -> None:
    rows = by_name(run_preflight(db_url, production, confirmed=True))
    assert {row.status for row in rows.values()} == {"pass"}, rows
    assert "PostgreSQL 15" in rows["postgresql version"].detail
    assert "preloaded" in rows["timescaledb"].detail and "apache" in rows["timescaledb"].detail


def test_production_without_confirmation_fails_with_the_hint(db_url: str, production: Environment) -> None:
    rows = run_preflight(db_url, production, confirmed=False)
    confirmation = by_name(rows)["confirmation"]
    assert confirmation.status == "fail" and preflight_failed(rows)
    assert "--yes" in confirmation.hint and "SKIP_CONFIRMATION=true" in confirmation.hint
    assert "confirm=true" in confirmation.hint


def test_plain_server_fails_where_timescaledb_is_required(plain_db_url: str, production: Environment) -> None:
    required = by_name(run_preflight(plain_db_url, production, confirmed=True))["timescaledb"]
    assert required.status == "fail" and "shared_preload_libraries" in required.detail
    preferred = by_name(run_preflight(plain_db_url, get_environment("local"), confirmed=False))["timescaledb"]
    assert preferred.status == "warn"


def test_unreachable_server_skips_the_rest(production: Environment) -> None:
    url = f"postgresql://app:pw-should-hide@127.0.0.1:{free_port()}/db"
    rows = by_name(run_preflight(url, production, confirmed=True))
    assert rows["server reachable"].status == "fail"
    assert {rows[name].status for name in CHECKS[2:-1]} == {"skip"}
    assert rows["confirmation"].status == "pass"
    assert "pw-should-hide" not in repr(rows)


def test_silent_server_fails_within_the_connect_timeout(production: Environment) -> None:
    with socket.socket() as listener:  # accepts connections, never answers: a hung server
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"postgresql://app@127.0.0.1:{listener.getsockname()[1]}/db"
        fast = dataclasses.replace(production, connect_timeout=1)
        started = time.monotonic()
        rows = by_name(run_preflight(url, fast, confirmed=True))
        elapsed = time.monotonic() - started
    assert rows["server reachable"].status == "fail"
    assert (
        "no answer from 127.0.0.1" in rows["server reachable"].detail
        and "within 1 s" in rows["server reachable"].detail
    )
    assert elapsed < 10, f"preflight took {elapsed:.1f} s with connect_timeout=1"


def test_invalid_url_is_the_first_failed_row(production: Environment) -> None:
    # (A URL without a host is libpq's default socket, accepted like psql does; one without a database not.)
    rows = by_name(run_preflight("postgresql://app:pw-should-hide@127.0.0.1:5/", production, confirmed=True))
    assert rows["url valid"].status == "fail" and "names no database" in rows["url valid"].detail
    assert rows["server reachable"].status == "skip"
    assert "pw-should-hide" not in repr(rows)


def test_lock_held_by_another_session_names_the_holder(db_url: str, production: Environment) -> None:
    with psycopg.connect(db_url, autocommit=True, application_name="other-migration") as other:
        assert other.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)).fetchone() == (True,)
        pid = other.info.backend_pid
        lock = by_name(run_preflight(db_url, production, confirmed=True))["migration lock"]
        assert lock.status == "fail"
        assert f"pid {pid}" in lock.detail and "other-migration" in lock.detail
        with (
            psycopg.connect(db_url, autocommit=True) as conn,
            pytest.raises(MigrationLocked, match=f"pid {pid} \\(other-migration"),
            hold_migration_lock(conn),
        ):
            pass
    with psycopg.connect(db_url, autocommit=True) as conn:
        with hold_migration_lock(conn):
            holder = describe_lock_holder(conn)
            assert holder is not None and holder.pid == conn.info.backend_pid
        assert describe_lock_holder(conn) is None
    assert by_name(run_preflight(db_url, production, confirmed=True))["migration lock"].status == "pass"


def test_long_transaction_holding_a_lock_is_listed(db_url: str, production: Environment) -> None:
    with psycopg.connect(db_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE episodes (id int)")
    with psycopg.connect(db_url, application_name="report-job") as blocker:
        blocker.execute("SELECT count(*) FROM episodes")  # holds ACCESS SHARE until the transaction ends
        time.sleep(0.3)
        row = by_name(run_preflight(db_url, production, confirmed=True, min_transaction_age=0.2))
        blocking = row["blocking transactions"]
        assert blocking.status == "warn"
        assert f"pid {blocker.info.backend_pid} (report-job" in blocking.detail
        assert "episodes (AccessShareLock)" in blocking.detail
        assert not preflight_failed(list(row.values()))
    after = by_name(run_preflight(db_url, production, confirmed=True, min_transaction_age=0.2))
    assert after["blocking transactions"].status == "pass"


def test_role_without_create_privilege_fails(db_url: str, production: Environment) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
    try:
        url = db_url.replace("postgres:", "reader:", 1).replace(
            db_url.split(":")[2].split("@")[0], "reader-pw"
        )
        privilege = by_name(run_preflight(url, production, confirmed=True))["create privilege"]
        assert privilege.status == "fail"
        assert "may not CREATE in schema public" in privilege.detail and "GRANT CREATE" in privilege.hint
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP OWNED BY reader")
            conn.execute("DROP ROLE reader")


def start_standby(primary: LocalCluster) -> LocalCluster:
    """A streaming standby of `primary`, made with pg_basebackup -R (run as the server's OS user)."""
    base = Path(tempfile.mkdtemp(prefix="schemaflow-test-standby-"))
    base.chmod(0o755)
    replica = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    _chown_to_server_user(base)
    cmd = [
        str(PG_BIN / "pg_basebackup"),
        "-D",
        str(replica.datadir),
        "-R",
        "-X",
        "stream",
        "-h",
        str(primary.datadir),
        "-p",
        str(primary.port),
        "-U",
        "postgres",
    ]
    if _server_user() is not None:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd="/", check=False)
    if result.returncode != 0:
        pytest.fail(f"pg_basebackup failed: {result.stderr.strip()}")
    shutil.copy(primary.password_file, replica.password_file)
    replica.start()  # rewrites port and socket directory in schemaflow.conf, keeps standby.signal
    return replica


@pytest.fixture(scope="module")
def standby(pg_cluster: LocalCluster) -> Iterator[LocalCluster]:
    replica = start_standby(pg_cluster)
    yield replica
    replica.destroy()
    shutil.rmtree(replica.datadir.parent, ignore_errors=True)


def test_read_replica_fails_preflight(standby: LocalCluster, production: Environment) -> None:
    url = with_database(standby.url(), "postgres")
    replica = by_name(run_preflight(url, production, confirmed=True))["not a read replica"]
    assert replica.status == "fail"
    assert "pg_is_in_recovery()" in replica.detail and "primary" in replica.hint


def test_insecure_remote_url_fails_before_any_connection(production: Environment) -> None:
    rows = by_name(run_preflight("postgresql://app@db.example.com/app", production, confirmed=True))
    assert rows["url valid"].status == "fail" and "sslmode=require" in rows["url valid"].hint
    assert rows["server reachable"].status == "skip"


@pytest.mark.tsl
def test_tsl_lane_passes_with_the_tsl_license(tsl_url: str, production: Environment) -> None:
    rows = by_name(run_preflight(tsl_url, production, confirmed=True))
    assert not preflight_failed(list(rows.values())), rows
    assert "license timescale (tsl mode" in rows["timescaledb"].detail
    assert "PostgreSQL 17" in rows["postgresql version"].detail
