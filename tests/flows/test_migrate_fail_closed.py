"""The migrate flow as a deployment runs it: no SKIP_CONFIRMATION, no fallback URL, cheap checks first."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.support.environments import use_test_environments

SMALL = "CREATE TABLE IF NOT EXISTS public.t (id int PRIMARY KEY);\n"


@pytest.fixture
def environments(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_test_environments(tmp_path, db_url, monkeypatch)
    return tmp_path


def public_tables(url: str) -> int:
    """Tables outside the system schemas (a schemaflow history table counts too)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.usefixtures("prefect_harness")
def test_skip_confirmation_in_a_workers_environment_confirms_nothing(
    environments: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.migrate import migrate

    monkeypatch.setenv("SKIP_CONFIRMATION", "true")  # a worker started with it set
    state = migrate(environment="production", run_expectations=False, return_state=True)
    assert state.is_failed()
    assert "confirmation" in (state.message or "") and "nothing was changed" in (state.message or "")
    log = (environments / "logs" / "migrate-production.log").read_text()
    assert "| FAIL | confirmation | environment 'production' requires confirmation" in log
    assert "## Changes\n\nnot run" in log
    assert public_tables(db_url) == 0 and not (environments / "backups").exists()


@pytest.mark.usefixtures("prefect_harness")
def test_the_report_says_where_the_confirmation_came_from(environments: Path, db_url: str) -> None:
    from flows.migrate import migrate

    schema = environments / "small.sql"
    schema.write_text(SMALL)
    log = environments / "logs" / "migrate-production.log"
    expectations = [
        ({"confirm": True}, "confirmed for production by flow parameter confirm=true"),
        ({"confirm": True, "confirmed_by": "--yes"}, "confirmed for production by --yes"),
        (
            {"confirm": True, "confirmed_by": "made up"},
            "confirmed for production by flow parameter confirm=true",
        ),
        ({"dry_run": True}, "not needed: a dry run changes nothing (production)"),
    ]
    for parameters, row in expectations:
        migrate(environment="production", schema_file=str(schema), run_expectations=False, return_state=True,
                **parameters)  # fmt: skip
        assert f"| PASS | confirmation | {row} |" in log.read_text(), (parameters, log.read_text())
    migrate(environment="dev", schema_file=str(schema), run_expectations=False, return_state=True)
    dev_log = environments / "logs" / "migrate-dev.log"
    assert "| PASS | confirmation | not required for dev |" in dev_log.read_text()


@pytest.mark.usefixtures("prefect_harness")
def test_a_missing_secret_block_in_a_flow_run_never_uses_database_url(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.migrate import migrate

    path = tmp_path / "environments.toml"
    path.write_text(
        f'[defaults]\nbackup_dir = "{tmp_path}/backups"\nreport_log = "{tmp_path}/logs/{{name}}.log"\n'
        'allow_insecure = true\ntimescaledb = "preferred"\n\n'
        '[environments.staging]\nsecret_block = "sf-flow-test-absent-block"\n'
    )
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    monkeypatch.setenv("DATABASE_URL", db_url)  # the stray variable a worker was started with
    state = migrate(environment="staging", run_expectations=False, return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert "block 'sf-flow-test-absent-block' not found" in message and "nothing was touched" in message
    assert "empty or missing" not in message
    assert public_tables(db_url) == 0 and not (tmp_path / "backups").exists()
    log = (tmp_path / "logs" / "staging.log").read_text()
    assert "schemaflow secrets set staging" in log


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("BEGIN;\nCREATE TABLE IF NOT EXISTS public.t (id int);\nCOMMIT;\n", "BEGIN/COMMIT near line 1"),
        ("CREATE TABLE IF NOT EXISTS public.t (id int;\n", "SF001 parse-error"),
        (None, "not found"),
    ],
)
def test_a_bad_schema_file_fails_before_preflight_and_backup(
    environments: Path, db_url: str, text: str | None, fragment: str
) -> None:
    from flows.migrate import migrate

    schema = environments / "schema.sql"
    if text is not None:
        schema.write_text(text)
    state = migrate(environment="production", confirm=True, schema_file=str(schema), return_state=True)
    assert state.is_failed() and fragment in (state.message or ""), state.message
    log = (environments / "logs" / "migrate-production.log").read_text()
    assert "## Preflight\n\nnot run" in log and "## Changes\n\nnot run" in log
    assert not (environments / "backups").exists()
    assert public_tables(db_url) == 0
