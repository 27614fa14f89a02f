"""A restore that is stopped leaves no database behind, and a managed-service owner is refused early.

kill -9 runs no Python code: the restore's database stays until the next restore or backup of the
environment finds it (marked, and its restore's advisory lock free) and drops it, saying so. SIGTERM
stops pg_restore, drops the database itself and says what it stopped and cleaned. The schemaflow
CLI runs in its own process, as a person runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from db.backup.dump import backup_database
from db.backup.restore import restore_backup
from db.connection.environments import get_environment
from db.errors import ConfigError
from db.local.cluster import LocalCluster
from tests.conftest import create_database, drop_database
from tests.support.environments import write_test_environments

SCHEMAFLOW = Path(sys.executable).parent / "schemaflow"
ENVIRONMENTS = """
[environments.managed]
require_backup = true
"""
SEED_SQL = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE events (event_time timestamptz NOT NULL, tenant_id int NOT NULL, payload text NOT NULL);
SELECT create_hypertable('events', 'event_time', chunk_time_interval => interval '1 day');
INSERT INTO events SELECT timestamptz '2026-11-01' + i * interval '1 minute', i % 7, repeat('x', 200)
FROM generate_series(1, 40000) AS i;
"""
PASSWORD = "managed-owner-pw-4417"
UNFINISHED_SQL = "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1"


@pytest.fixture(scope="module")
def backed_up(
    pg_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A TimescaleDB database, its backup, and the environment a CLI process needs to restore it.

    Shared by the tests that stop a restore: each leaves the database as it was (they check that).
    """
    url = create_database(pg_cluster, "stopped")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED_SQL)
    with pytest.MonkeyPatch.context() as monkeypatch:
        write_test_environments(tmp_path_factory.mktemp("restore"), url, monkeypatch, ENVIRONMENTS)
        backup = backup_database(url, get_environment("managed")).path
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    yield url, backup, env
    drop_database(pg_cluster, url)


def _leftovers(admin: str, target: str) -> list[str]:
    with psycopg.connect(admin, autocommit=True) as conn:
        return [r[0] for r in conn.execute(UNFINISHED_SQL, (f"{target}\\_restore\\_%",)).fetchall()]


def _start_restore(backup: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    argv = [str(SCHEMAFLOW), "restore", "--env", "managed", "--backup", str(backup), "--yes"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_pg_restore(admin: str, target: str, child: subprocess.Popen[str]) -> str:
    """The restore's new database, once pg_restore is writing into it (its session is there)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(admin, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT datname FROM pg_stat_activity WHERE datname LIKE %s AND query LIKE 'COPY %%'",
                (f"{target}\\_restore\\_%",),
            ).fetchone()
            if row:
                return str(row[0])
            assert child.poll() is None, child.communicate()
            time.sleep(0.01)
    pytest.fail("pg_restore never started copying rows")


def _rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]


def _stop_a_restore_midway(
    backed_up: tuple[str, Path, dict[str, str]], admin_url: str, sig: signal.Signals
) -> tuple[str, str, subprocess.Popen[str], str]:
    """An in-place restore sent `sig` while pg_restore copies rows: (target, its new database, the
    process, its stderr)."""
    url, backup, env = backed_up
    target = url.rsplit("/", 1)[1]
    child = _start_restore(backup, env)
    fresh = _wait_for_pg_restore(admin_url, target, child)
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert _rows(url) == 40000, "the target was not touched"
    return target, fresh, child, " ".join(err.split())  # the console wraps long lines


def test_kill_9_during_an_in_place_restore_is_cleaned_by_the_next_backup(
    backed_up: tuple[str, Path, dict[str, str]], admin_url: str
) -> None:
    target, fresh, _, _ = _stop_a_restore_midway(backed_up, admin_url, signal.SIGKILL)
    assert _leftovers(admin_url, target) == [fresh], "kill -9 runs no clean-up: the database is left"
    result = subprocess.run(
        [str(SCHEMAFLOW), "backup", "--env", "managed"], env=backed_up[2], capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert f"dropped database {fresh!r}, left by a restore that was interrupted" in said
    assert _leftovers(admin_url, target) == []


def test_sigterm_during_an_in_place_restore_drops_the_database_and_says_so(
    backed_up: tuple[str, Path, dict[str, str]], admin_url: str
) -> None:
    target, fresh, child, err = _stop_a_restore_midway(backed_up, admin_url, signal.SIGTERM)
    assert child.returncode == 143, err
    assert (
        f"stopped by SIGTERM: pg_restore was stopped and the unfinished database {fresh!r} was dropped; "
        f"{target!r} was not changed"
    ) in err
    assert _leftovers(admin_url, target) == []


# ---------------------------------------------------------------------------------------------------
# A managed service's owner: LOGIN CREATEROLE, not a superuser; CREATEDB only if the provider gives it
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def managed_owner(pg_cluster: LocalCluster, admin_url: str) -> Iterator[str]:
    """A role like a managed service's: owns its database `app_*`, CREATEROLE, no CREATEDB, no superuser."""
    role, database = f"owner_{uuid.uuid4().hex[:8]}", f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(PASSWORD)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
        )
    try:
        yield role
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for (name,) in conn.execute(
                "SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s", (role,)
            ).fetchall():
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _databases(admin: str) -> set[str]:
    with psycopg.connect(admin) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def test_a_managed_owner_restores_into_a_new_database_or_is_refused_before_anything_exists(
    pg_cluster: LocalCluster,
    admin_url: str,
    managed_owner: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with psycopg.connect(admin_url) as conn:
        app = conn.execute(
            "SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s", (managed_owner,)
        ).fetchone()[0]  # type: ignore[index]
    owner_url = f"postgresql://{managed_owner}:{PASSWORD}@127.0.0.1:{pg_cluster.port}/{app}"
    with psycopg.connect(owner_url, autocommit=True) as conn:  # the owner's own tables, no TimescaleDB
        conn.execute("CREATE TABLE plans (id int PRIMARY KEY, name text); INSERT INTO plans VALUES (1, 'a')")
    write_test_environments(tmp_path, owner_url, monkeypatch, ENVIRONMENTS)
    env = get_environment("managed")
    plain = backup_database(owner_url, env).path
    superuser_url = pg_cluster.url(app)
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(SEED_SQL.replace("40000", "100"))
    hyper = backup_database(superuser_url, env).path

    before = _databases(admin_url)
    with pytest.raises(ConfigError) as no_createdb:
        restore_backup(plain, owner_url, environment="managed", into=f"{app}_copy")
    assert "has no CREATEDB" in no_createdb.value.message
    assert f'ALTER ROLE "{managed_owner}" CREATEDB' in (no_createdb.value.hint or "")
    assert _databases(admin_url) == before, "refused before creating anything"

    with psycopg.connect(admin_url, autocommit=True) as conn:  # what the provider's admin runs
        conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(managed_owner)))
    with pytest.raises(ConfigError) as timescaledb:
        restore_backup(hyper, owner_url, environment="managed", into=f"{app}_copy")
    assert (
        "not a superuser" in timescaledb.value.message
        and "timescaledb_pre_restore()" in timescaledb.value.message
    )
    assert _databases(admin_url) == before, "refused before creating anything"

    result = restore_backup(plain, owner_url, environment="managed", into=f"{app}_copy")
    with psycopg.connect(result.url) as conn:
        assert conn.execute("SELECT name FROM plans").fetchall() == [("a",)]
        assert conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone() == (managed_owner,)
