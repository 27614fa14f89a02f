"""Restore refuses empty archives and archives of another environment, database or server unless told."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.backup.dump import backup_database
from db.backup.manifest import MANIFEST_NAME, read_manifest
from db.backup.restore import restore_backup
from db.connection.environments import Environment, get_environment
from db.connection.urls import validate_url, with_database
from db.errors import CheckFailed
from db.local.cluster import LocalCluster
from tests.conftest import create_database, drop_database

TABLE_SQL = "CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept SELECT generate_series(1, 50)"


@pytest.fixture
def staging(tmp_path: Path) -> Environment:
    return dataclasses.replace(get_environment("staging"), backup_dir=tmp_path / "backups")


@pytest.fixture
def database_b(pg_cluster: LocalCluster) -> Iterator[str]:
    url = create_database(pg_cluster, "b")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE_SQL)
        conn.execute("INSERT INTO kept VALUES (1000)")
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture
def dropped(pg_cluster: LocalCluster) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def password_of(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["password"])


def kept_ids(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM kept").fetchone()[0])  # type: ignore[index]


def databases(admin: str) -> set[str]:
    with psycopg.connect(admin) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def test_a_backup_records_where_it_came_from_and_no_password(db_url: str, staging: Environment) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(TABLE_SQL)
        sysid = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()[0]  # type: ignore[index]
    result = backup_database(db_url, staging)
    manifest = read_manifest(result.path)
    assert manifest is not None and manifest == result.manifest
    parts = validate_url(db_url)
    assert manifest.environment == "staging" and manifest.database == parts["database"]
    assert manifest.system_identifier == sysid
    assert manifest.host == f"{parts['host']}:{parts['port']}"
    assert manifest.tables == 1 and manifest.entries == result.entries and manifest.size_bytes > 0
    assert manifest.pg_dump_version.startswith("pg_dump (PostgreSQL) 15")
    assert len(manifest.schema_checksum) == 64
    text = (result.path / MANIFEST_NAME).read_text()
    assert password_of(db_url) not in text
    assert (result.path / MANIFEST_NAME).stat().st_mode & 0o077 == 0


def test_an_empty_archive_is_refused_in_place_and_accepted_with_the_flag(
    db_url: str, staging: Environment, pg_cluster: LocalCluster, dropped: list[str]
) -> None:
    # The database's own backup, taken while it was still empty; rows arrive afterwards.
    empty = backup_database(db_url, staging)
    manifest = read_manifest(empty.path)
    assert manifest is not None and manifest.tables == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(TABLE_SQL)
        conn.execute("INSERT INTO kept VALUES (1000)")
    before = databases(pg_cluster.url("postgres"))
    with pytest.raises(CheckFailed, match="contains no tables") as info:
        restore_backup(empty.path, db_url, environment="staging")
    assert "--allow-empty-archive" in (info.value.hint or "")
    assert kept_ids(db_url) == 51 and databases(pg_cluster.url("postgres")) == before

    result = restore_backup(empty.path, db_url, environment="staging", allow_empty=True)
    assert result.replaced
    dropped.append(result.replaced)
    assert any("contains no tables" in a for a in result.allowed)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('kept')").fetchone() == (None,)


def test_a_backup_of_database_a_is_refused_for_database_b_unless_allowed(
    db_url: str, database_b: str, staging: Environment, dropped: list[str]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(TABLE_SQL)
    backup_a = backup_database(db_url, staging)
    name_a = validate_url(db_url)["database"]
    with pytest.raises(CheckFailed, match=f"is of database '{name_a}', not") as info:
        restore_backup(backup_a.path, database_b, environment="staging")
    assert "--allow-foreign-archive" in (info.value.hint or "")
    assert kept_ids(database_b) == 51  # untouched

    into = f"into_{uuid.uuid4().hex[:8]}"
    with pytest.raises(CheckFailed, match="is of database"):  # --into B's server, B's environment: still B's
        restore_backup(backup_a.path, database_b, environment="staging", into=into)

    result = restore_backup(backup_a.path, database_b, environment="staging", allow_foreign=True)
    assert result.replaced
    dropped.append(result.replaced)
    assert kept_ids(database_b) == 50  # A's rows now
    assert result.allowed and "is of database" in result.allowed[0]


def test_another_environments_backup_and_an_unlabelled_one_are_refused(
    db_url: str, staging: Environment, dropped: list[str]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(TABLE_SQL)
    production = dataclasses.replace(get_environment("production"), backup_dir=staging.backup_dir)
    theirs = backup_database(db_url, production)
    with pytest.raises(CheckFailed, match="taken from environment 'production', not 'staging'"):
        restore_backup(theirs.path, db_url, environment="staging")

    ours = backup_database(db_url, staging)
    (ours.path / MANIFEST_NAME).unlink()  # like a backup from before manifests
    with pytest.raises(CheckFailed, match=r"has no schemaflow-manifest\.json") as info:
        restore_backup(ours.path, db_url, environment="staging")
    assert "--allow-foreign-archive" in (info.value.hint or "")

    into = f"into_{uuid.uuid4().hex[:8]}"
    dropped.append(into)
    restore_backup(ours.path, db_url, environment="staging", into=into, allow_foreign=True)
    assert kept_ids(with_database(db_url, into)) == 50


def test_another_servers_backup_is_refused(db_url: str, staging: Environment) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(TABLE_SQL)
    result = backup_database(db_url, staging)
    path = result.path / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["system_identifier"] = "7000000000000000001"
    path.write_text(json.dumps(data))
    with pytest.raises(CheckFailed, match="taken on another server"):
        restore_backup(result.path, db_url, environment="staging")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        ({"database": "another_db"}, "the archive itself is of"),
        ({"entries": 646, "tables": 52}, "the archive holds"),
        ({"system_identifier": None}, "names no server"),
    ],
)
def test_a_hand_edited_manifest_is_checked_against_the_archive(
    db_url: str, database_b: str, staging: Environment, edit: dict, fragment: str
) -> None:
    """A manifest relabelled to pass for B's backup (or to hide its server) proves nothing."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(TABLE_SQL)
    result = backup_database(db_url, staging)
    path = result.path / MANIFEST_NAME
    data = json.loads(path.read_text())
    if "database" in edit:  # the forger relabels the manifest as B's own backup
        edit = {"database": validate_url(database_b)["database"]}
    path.write_text(json.dumps({**data, **edit}))
    target = database_b if "database" in edit else db_url
    before = kept_ids(target)
    with pytest.raises(CheckFailed, match=fragment):
        restore_backup(result.path, target, environment="staging")
    assert kept_ids(target) == before


def test_cli_refuses_an_empty_archive_with_one_clear_message(
    db_url: str, database_b: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty_env = dataclasses.replace(get_environment("staging"), backup_dir=tmp_path / "b")
    empty = backup_database(db_url, empty_env)
    code = main(
        ["restore", "--env", "staging", "--backup", str(empty.path), "--database-url", database_b, "--yes"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "schemaflow: error: backup" in err and "contains no tables" in err and "what to do:" in err
    assert "Traceback" not in err and password_of(database_b) not in err
    assert kept_ids(database_b) == 51
