"""`schemaflow migrate` for an environment with require_approval: the plan first, then its approval."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.deploy.history import list_runs
from db.plan.database import plan_database
from tests.support.environments import write_test_environments

ENVIRONMENTS = """
[environments.production]
require_backup = false
require_confirmation = true
require_approval = true
"""


@pytest.fixture
def environments(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_test_environments(tmp_path, db_url, monkeypatch, ENVIRONMENTS)
    for key in ("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "PREFECT_SERVER_LOGGING_LEVEL"):
        monkeypatch.setenv(key, os.environ.get(key, "WARNING"))
    return tmp_path


def _tables(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert row is not None
    return int(row[0])


def test_the_plan_is_shown_and_nothing_changes_without_its_approval(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["migrate", "--env", "production"]) == 1  # pytest's stdin is not a terminal: no yes
    out, err = capsys.readouterr()
    assert "The plan for 'production'" in out and "public.listener_events" in out
    assert "was not approved; nothing was changed" in err and "--plan-checksum" in err
    assert main(["migrate", "--env", "production", "--plan-checksum", "0" * 64]) == 1
    assert "not the approved 000000000000" in capsys.readouterr().err
    assert _tables(db_url) == 0


@pytest.mark.usefixtures("prefect_harness")
def test_a_pinned_plan_is_applied_and_the_run_is_named_and_tagged_like_a_deployment_run(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    checksum = plan_database(db_url).checksum
    code = main(["migrate", "--env", "production", "--plan-checksum", checksum, "--skip-expectations"])
    assert code == 0, capsys.readouterr()
    assert _tables(db_url) > 20
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = list_runs(conn, "production", limit=1)[0]
    assert row["plan_checksum"] == checksum and row["approval_source"] == "cli (--plan-checksum)"
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["production", "migrate"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    assert runs, "the CLI run carries no production/migrate tags"
    assert runs[0].name.startswith("migrate-production-apply-"), runs[0].name
