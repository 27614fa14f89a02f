"""`schemaflow refresh-metrics --env ENV [--window 3d]`: the scheduled refresh, by hand."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cli.main import main
from db.local.cluster import LocalCluster
from tests.conftest import drop_database
from tests.support.seeded import clone_template

ENVIRONMENTS = """
[defaults]
database_url_env = "SCHEMAFLOW_REFRESH_CLI_URL"
allow_insecure = true
connect_timeout = 5
backup_dir = "{root}/backups/{{name}}"
report_log = "{root}/logs/{{name}}.log"

[environments.qa]
require_backup = false
"""


@pytest.fixture
def qa_url(tmp_path: Path, pg_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = clone_template(pg_cluster)
    path = tmp_path / "environments.toml"
    path.write_text(ENVIRONMENTS.format(root=tmp_path))
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    monkeypatch.setenv("SCHEMAFLOW_REFRESH_CLI_URL", url)
    yield url
    drop_database(pg_cluster, url)


def test_refreshes_the_window_and_prints_what_it_did(qa_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["refresh-metrics", "--env", "qa", "--window", "3d", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["environment"] == "qa" and report["kind"] == "table" and report["window"] == "3 days"
    assert report["buckets_upserted"] == 0 and report["buckets_deleted"] == 0  # seeded and built: unchanged
    assert main(["refresh-metrics", "--env", "qa"]) == 0
    out = capsys.readouterr().out
    assert "re-aggregated" in out and "0 bucket(s) upserted" in " ".join(out.split())
    assert str(urlsplit(qa_url).password) not in out


def test_a_bad_window_is_one_line_with_what_to_do(qa_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["refresh-metrics", "--env", "qa", "--window", "three days"]) == 2
    err = capsys.readouterr().err
    assert "schemaflow: error: the refresh window 'three days' is not a positive interval" in err
    assert "--window 3d" in err and "Traceback" not in err
