"""The messages issue 16 found misleading, each now saying what is true.

- `history --env X` on a table holding only other environments' runs said it "is empty or does not
  exist yet";
- a failed local dry run printed the "!!! migrate FAILED on LOCAL !!!" banner meant for real runs.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.deploy.apply import apply_master_schema
from tests.support.environments import use_test_environments

# Parses (the pre-check passes) but fails when run: the error comes from the server, inside apply.
FAILING_SCHEMA = "CREATE TABLE IF NOT EXISTS public.broken (id int REFERENCES public.no_such_table (id));\n"


@pytest.fixture
def environments(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_test_environments(tmp_path, db_url, monkeypatch)


def test_history_of_an_environment_with_no_runs_names_the_environments_it_holds(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_master_schema(db_url, environment="dev")  # records one run, of environment dev
    assert main(["history", "--env", "production"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "empty or does not exist yet" not in out
    assert "no runs of environment 'production' recorded" in out
    assert "1 of 'dev'" in out and "--all-environments" in out


def test_history_says_when_the_table_does_not_exist(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "--env", "dev"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "schemaflow.migration_history does not exist yet (no migrate ran here)" in out


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_dry_run_prints_no_failure_banner(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = environments / "failing.sql"
    schema.write_text(FAILING_SCHEMA)
    code = main(["migrate", "--env", "dev", "--dry-run", "--skip-expectations", "--schema-file", str(schema)])
    printed = capsys.readouterr()
    assert code != 0
    assert "no_such_table" in printed.err  # the real error, once, on the error line
    assert "!!!" not in printed.err + printed.out and "FAILED on DEV" not in printed.err, printed.err
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('public.broken')").fetchone() == (None,)
