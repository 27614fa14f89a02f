"""keep_backups counts per database: two databases deployed under one environment name keep their own.

A database is (environment, server system identifier, database name), read from each backup's
manifest; a run's printed restore command stays valid until that database's own retention removes it.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.backup.manifest import read_manifest
from db.local.cluster import LocalCluster
from tests.conftest import create_database, drop_database
from tests.support.environments import write_test_environments

ENVIRONMENTS = """
[environments.managed]
require_backup = true
keep_backups = 2
"""


def _backup(url: str, capsys: pytest.CaptureFixture) -> str:
    """`schemaflow backup --env managed --database-url URL`; the backup path its restore command names."""
    assert main(["backup", "--env", "managed", "--database-url", url]) == 0
    out = capsys.readouterr().out
    found = re.search(r"restore with: schemaflow restore --env managed --backup (\S+)", out)
    assert found, out
    return found.group(1)


def test_two_databases_under_one_environment_each_keep_their_newest(
    pg_cluster: LocalCluster, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    other_url = create_database(pg_cluster, "fault")
    try:
        for url in (db_url, other_url):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
        root = write_test_environments(tmp_path, db_url, monkeypatch, ENVIRONMENTS)
        app = [_backup(db_url, capsys) for _ in range(3)]
        fault = [_backup(other_url, capsys) for _ in range(3)]  # five runs pruned all of app's before
        backups = sorted((root / "backups" / "managed").glob("managed-*.dumpdir"))
        databases = {}
        for path in backups:
            manifest = read_manifest(path)
            assert manifest is not None
            databases.setdefault(manifest.database, []).append(str(path))
        app_db, fault_db = (u.rsplit("/", 1)[1] for u in (db_url, other_url))
        assert databases == {app_db: app[1:], fault_db: fault[1:]}
    finally:
        drop_database(pg_cluster, other_url)
