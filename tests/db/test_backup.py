"""Backups: a TimescaleDB database round-trips row for row, files are private, pruning keeps N."""

from __future__ import annotations

import dataclasses
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import db.backup.restore
from db.backup.dump import backup_database, backup_name, prune_backups, restore_command, verify_backup
from db.backup.manifest import ServerIdentity, new_manifest, read_manifest, write_manifest
from db.backup.restore import _swap_databases, manual_restore_commands, restore_backup
from db.connection.environments import Environment, get_environment
from db.connection.urls import libpq_subprocess_args, validate_url, with_database
from db.errors import BackupFailed
from db.local.cluster import LocalCluster

SEED_SQL = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE tenants (id uuid PRIMARY KEY, slug text UNIQUE NOT NULL);
CREATE TABLE listener_events (
    event_id uuid NOT NULL, event_time timestamptz NOT NULL,
    tenant_id uuid NOT NULL REFERENCES tenants (id), listener_id text NOT NULL,
    position_seconds integer NOT NULL, PRIMARY KEY (event_id, event_time));
SELECT create_hypertable('listener_events', 'event_time', chunk_time_interval => interval '1 day');
INSERT INTO tenants SELECT md5(i::text)::uuid, 'tenant-' || i FROM generate_series(1, 5) AS i;
INSERT INTO listener_events
SELECT md5('e' || i)::uuid, timestamptz '2026-11-01' + i * interval '7 minutes',
       md5((1 + i % 5)::text)::uuid, 'listener-' || (i % 97), i % 3600
FROM generate_series(1, 5000) AS i;
"""
FINGERPRINT_SQL = """
SELECT (SELECT count(*) FROM tenants),
       (SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM tenants AS t),
       (SELECT count(*) FROM listener_events),
       (SELECT md5(string_agg(e::text, ',' ORDER BY e.event_id)) FROM listener_events AS e),
       (SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'listener_events')
"""


@pytest.fixture
def staging(tmp_path: Path) -> Environment:
    return dataclasses.replace(get_environment("staging"), backup_dir=tmp_path / "backups", keep_backups=2)


@pytest.fixture
def seeded_url(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(SEED_SQL)
    return db_url


@pytest.fixture
def extra_databases(pg_cluster: LocalCluster) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def allows_connections(admin: str, name: str) -> bool | None:
    """pg_database.datallowconn of `name`, None when no database has that name."""
    with psycopg.connect(admin) as conn:
        row = conn.execute("SELECT datallowconn FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return None if row is None else bool(row[0])


class PauseAfterEndingSessions:
    """The swap's admin connection, pausing after pg_terminate_backend: the moment a pool reconnects."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __enter__(self) -> PauseAfterEndingSessions:
        self._conn.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._conn.__exit__(*exc)

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        cursor = self._conn.execute(query, *args, **kwargs)
        if "pg_terminate_backend" in str(query):
            time.sleep(0.5)
        return cursor


def fingerprint(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        row = conn.execute(FINGERPRINT_SQL).fetchone()
    assert row is not None
    return tuple(row)


def test_backup_delete_restore_into_new_database_brings_every_row_back(
    seeded_url: str, staging: Environment, extra_databases: list[str]
) -> None:
    before = fingerprint(seeded_url)
    assert before[0] == 5 and before[2] == 5000 and before[4] > 20  # rows spread over many chunks
    result = backup_database(seeded_url, staging)

    assert result.path.parent == staging.backup_dir and result.path.name.startswith("staging-")
    assert result.timescaledb and result.entries > 10 and result.size_bytes > 0
    assert not [w for w in result.warnings if "circular" in w]  # TimescaleDB's catalog noise is filtered
    assert stat.S_IMODE(staging.backup_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o700
    files = [p for p in result.path.rglob("*") if p.is_file()]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert verify_backup(result.path) == result.entries

    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute("DELETE FROM listener_events")
    assert fingerprint(seeded_url)[2] == 0

    name = f"restored_{uuid.uuid4().hex[:8]}"
    extra_databases.append(name)
    restored = restore_backup(result.path, seeded_url, environment="staging", into=name)
    assert restored.database == name and restored.replaced is None
    assert fingerprint(with_database(seeded_url, name)) == before
    assert fingerprint(seeded_url)[2] == 0  # --into leaves the original alone


def test_restore_in_place_keeps_the_replaced_database(
    seeded_url: str,
    staging: Environment,
    extra_databases: list[str],
    pg_cluster: LocalCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = fingerprint(seeded_url)
    result = backup_database(seeded_url, staging)
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute("TRUNCATE listener_events")
        conn.execute("CREATE TABLE made_after_backup (id int)")

    # An application session, and a pool that reconnects as soon as it is cut off: the swap must
    # end the one and shut out the other, not fail with "database is being accessed by other users".
    session = psycopg.connect(seeded_url, autocommit=True)
    stop = threading.Event()

    def reconnect_forever() -> None:  # a pool keeping one connection busy, replacing it at once
        while not stop.is_set():
            try:
                with psycopg.connect(seeded_url, autocommit=True, connect_timeout=2) as held:
                    while not stop.is_set():
                        held.execute("SELECT pg_sleep(0.2)")  # fails as soon as the backend is ended
            except psycopg.OperationalError:
                stop.wait(0.002)

    pool = threading.Thread(target=reconnect_forever, daemon=True)
    pool.start()
    connect = db.backup.restore.connect
    monkeypatch.setattr(
        db.backup.restore, "connect", lambda *a, **kw: PauseAfterEndingSessions(connect(*a, **kw))
    )
    try:
        restored = restore_backup(result.path, seeded_url, environment="staging")
    finally:
        stop.set()
        pool.join(timeout=10)
    assert restored.replaced and restored.database == validate_url(seeded_url)["database"]
    extra_databases.append(restored.replaced)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")  # its backend was ended before the rename
    session.close()

    assert fingerprint(seeded_url) == before
    with psycopg.connect(seeded_url) as conn:
        assert conn.execute("SELECT to_regclass('made_after_backup')").fetchone() == (None,)
    # The old database is kept under its new name, with its post-backup state, and open again.
    admin = pg_cluster.url("postgres")
    assert allows_connections(admin, restored.database) is True
    assert allows_connections(admin, restored.replaced) is True
    assert fingerprint(with_database(seeded_url, restored.replaced))[2] == 0
    with psycopg.connect(with_database(seeded_url, restored.replaced)) as conn:
        assert conn.execute("SELECT to_regclass('made_after_backup')").fetchone() is not None


@pytest.mark.parametrize("failing", ["first rename", "second rename"])
def test_a_failed_swap_leaves_the_target_under_its_name(
    failing: str, seeded_url: str, pg_cluster: LocalCluster, extra_databases: list[str]
) -> None:
    admin = pg_cluster.url("postgres")
    target = validate_url(seeded_url)["database"]
    fresh, replaced = f"fresh_{uuid.uuid4().hex[:8]}", f"replaced_{uuid.uuid4().hex[:8]}"
    extra_databases.extend([fresh, replaced])
    with psycopg.connect(admin, autocommit=True) as conn:
        if failing == "first rename":  # the name the old database should move to is taken
            conn.execute(f'CREATE DATABASE "{fresh}"')
            conn.execute(f'CREATE DATABASE "{replaced}"')
        # else: no database `fresh`, so the second rename fails after the first one succeeded
    before = fingerprint(seeded_url)

    with pytest.raises(
        BackupFailed, match=f"could not swap the restored database in place of '{target}'"
    ) as info:
        _swap_databases(admin, target, fresh, replaced)
    assert "--into" in (info.value.hint or "")

    assert allows_connections(admin, target) is True  # reopened after the failure
    assert fingerprint(seeded_url) == before  # still the same database, under its name
    assert allows_connections(admin, fresh) is None  # the restored copy is dropped
    if failing == "second rename":
        assert allows_connections(admin, replaced) is None  # the first rename was rolled back


def test_restore_commands_name_the_backup_and_hide_the_password(staging: Environment, tmp_path: Path) -> None:
    path = tmp_path / "staging-20260101T000000.000Z.dumpdir"
    url = "postgresql://app:Zq9-restore-pw@127.0.0.1:5432/podcasts"
    command = restore_command(staging, path)
    assert command == f"schemaflow restore --env staging --backup {path} --yes"
    assert "Zq9-restore-pw" not in restore_command(staging, path, url)
    manual = "\n".join(manual_restore_commands(path, url))
    assert "timescaledb_pre_restore()" in manual and "timescaledb_post_restore()" in manual
    assert "Zq9-restore-pw" not in manual


def test_pg_tools_get_the_password_in_their_environment_not_their_arguments() -> None:
    conninfo, env = libpq_subprocess_args("postgresql+psycopg://app:p%40ss%20Zq9@127.0.0.1:5433/my%20db")
    assert "Zq9" not in conninfo and "password" not in conninfo
    assert psycopg.conninfo.conninfo_to_dict(conninfo) == {
        "user": "app",
        "host": "127.0.0.1",
        "port": "5433",
        "dbname": "my db",
    }
    assert env == {"PGPASSWORD": "p@ss Zq9"}
    assert libpq_subprocess_args("postgresql://app@127.0.0.1/podcasts")[1] == {}  # .pgpass / PGPASSWORD


def test_an_existing_shared_backup_dir_is_left_as_is_with_a_warning(
    db_url: str, staging: Environment, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)  # like /tmp or a home directory: not ours to lock down
    result = backup_database(db_url, staging, backup_dir=shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert [w for w in result.warnings if f"backup directory {shared} is open to other users" in w]
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o700
    files = [p for p in result.path.rglob("*") if p.is_file()]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    assert not [w for w in backup_database(db_url, staging, backup_dir=private).warnings if "backup dir" in w]


def test_prune_keeps_the_newest_n_of_this_database_only(staging: Environment) -> None:
    staging.backup_dir.mkdir(parents=True)
    from datetime import UTC, datetime, timedelta

    def labelled(path: Path, env: str, database: str, server: str | None = "7001") -> Path:
        path.mkdir()
        (path / "toc.dat").write_bytes(b"x")
        identity = ServerIdentity(database, server)
        write_manifest(path, new_manifest(
            environment=env, identity=identity, checksum="c", host="h:5432", entries=1, tables=1,
            size_bytes=1, pg_dump_version="15", timescaledb=False,
        ))  # fmt: skip
        return path

    start = datetime(2026, 1, 1, tzinfo=UTC)
    named = [staging.backup_dir / backup_name("staging", start + timedelta(hours=h)) for h in range(9)]
    ours = [labelled(p, "staging", "app") for p in named[:5]]
    other_database = labelled(named[5], "staging", "fault")
    other_server = labelled(named[6], "staging", "app", server="7002")
    unlabelled = named[7]
    unlabelled.mkdir()
    others = [
        labelled(staging.backup_dir / backup_name(env, start), env, "app")
        for env in ("production", "staging-eu")
    ]
    (staging.backup_dir / "notes.txt").write_text("not a backup")

    latest = read_manifest(ours[-1])
    assert latest is not None
    pruned = prune_backups(staging, latest)
    assert pruned == ours[:3]
    kept = [*ours[3:], other_database, other_server, unlabelled, *others]
    remaining = sorted(p.name for p in staging.backup_dir.iterdir())
    assert remaining == sorted([*(p.name for p in kept), "notes.txt"])
    assert prune_backups(staging, latest) == []


def test_unreadable_backup_fails_verification(tmp_path: Path) -> None:
    bogus = tmp_path / "staging-20260101T000000.000Z.dumpdir"
    bogus.mkdir()
    (bogus / "toc.dat").write_bytes(b"not an archive")
    with pytest.raises(BackupFailed, match="not a readable pg_dump archive"):
        verify_backup(bogus)
    with pytest.raises(BackupFailed, match="does not exist"):
        verify_backup(tmp_path / "missing")


def test_required_backup_fails_closed_on_a_missing_database(
    pg_cluster: LocalCluster, staging: Environment
) -> None:
    from db.errors import ConnectionFailed

    with pytest.raises(ConnectionFailed, match="does not exist"):
        backup_database(pg_cluster.url("no_such_database"), staging)
    assert not staging.backup_dir.exists() or not any(staging.backup_dir.iterdir())


@pytest.mark.tsl
def test_newer_server_than_pg_dump_says_which_client_to_install(tsl_url: str, staging: Environment) -> None:
    # The TSL lane is PostgreSQL 17; our pg_dump is 15, which refuses newer servers.
    with pytest.raises(BackupFailed, match="pg_dump 15 cannot dump the PostgreSQL 17") as info:
        backup_database(tsl_url, staging)
    assert "postgresql-client-17" in (info.value.hint or "")
