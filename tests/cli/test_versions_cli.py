"""One-offs on the CLI: new-migration, plan and migrate --dry-run listing them, rollback --to, lint."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.deploy.apply import apply_master_schema
from db.local.seed import seed_database
from db.plan.database import plan_database
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from db.versions.files import discover_migrations
from db.versions.history import list_versions
from tests.db.versions.support import BACKFILL, RENAME, RETYPE, end_state_master, migrations_folder
from tests.support.environments import write_test_environments

ENVIRONMENTS = """
[environments.dev]
require_backup = false

[environments.approved]
require_backup = false
require_approval = true

[environments.guarded]
require_backup = true
require_confirmation = true
"""
LIMITS = {"lock_timeout": "1s", "statement_timeout": "1min", "lock_retries": 2}
RESTORE = "schemaflow restore --env dev --backup /backups/dev-20261201.dump --yes"


@pytest.fixture
def env_folder(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = migrations_folder(tmp_path, end_state_master(), batch=1_000)
    defaults = f'migrations_dir = "{folder}"\nallow_hazards = ["all"]\n'
    write_test_environments(tmp_path, db_url, monkeypatch, ENVIRONMENTS, defaults=defaults)
    for key in ("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "PREFECT_SERVER_LOGGING_LEVEL"):
        monkeypatch.setenv(key, os.environ.get(key, "WARNING"))
    apply_master_schema(db_url, record_history=False)
    seed_database(db_url, tenants=2, events=3_000, days=10, workers=1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE public.episodes SET audio_url = 'https://cdn.example/' || id")
    return folder


def _one(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def test_new_migration_writes_a_dated_file_with_lock_settings_a_guard_and_an_empty_down(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    assert main(["new-migration", "rename_episode_title", "--dir", str(folder)]) == 0
    [written] = discover_migrations(folder)
    assert written.slug == "rename_episode_title" and len(written.version) == 14
    assert "SET lock_timeout" in written.up and "IF EXISTS" in written.up and written.transactional
    assert written.down is not None and "ALTER" not in written.down  # the down section is there, empty
    assert main(["new-migration", "Bad Slug", "--dir", str(folder)]) == 2
    assert "what to do:" in capsys.readouterr().err


def test_plan_lists_pending_one_offs_before_the_masters_steps(
    env_folder: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["plan", "--env", "dev"]) == 1
    text = capsys.readouterr().out
    assert "3 pending, run before the master's steps" in text
    assert text.index(RENAME) < text.index(RETYPE) < text.index(BACKFILL) < text.index("plan checksum")


@pytest.mark.usefixtures("prefect_harness")
def test_migrate_dry_run_lists_the_pending_one_offs_and_changes_nothing(
    env_folder: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["migrate", "--env", "dev", "--dry-run"]) == 0
    report = capsys.readouterr().out
    assert RENAME in report and BACKFILL in report and "pending one-off" in report
    # The batch backfill commits per batch, so the dry run cannot run it: its last line says so.
    last = " ".join(report[report.rindex("migrate dev: dry run done in") :].split())
    assert "it could not rehearse (one-off 3;" in last, last
    assert _one(db_url, "SELECT to_regclass('schemaflow.migration_versions')") is None
    assert _one(db_url, "SELECT count(audio_url) FROM public.episodes")


@pytest.mark.usefixtures("prefect_harness")
def test_rollback_to_a_version_restores_its_shape_with_the_data_and_drift_against_its_files_is_empty(
    env_folder: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    urls = _one(db_url, "SELECT count(audio_url) FROM public.episodes")
    apply_schema(db_url, end_state_master(), environment="dev", migrations_dir=env_folder, **LIMITS)  # type: ignore[arg-type]
    assert _one(db_url, "SELECT count(media_url) FROM public.episodes") == urls

    assert main(["rollback", "--env", "dev", "--to", RENAME[:14]]) == 0
    assert f"undid {BACKFILL[:14]}, {RETYPE[:14]}" in capsys.readouterr().out  # newest first
    assert plan_database(db_url, end_state_master(retype=False, backfill=False)).is_empty

    assert main(["rollback", "--env", "dev", "--to", "0"]) == 0
    assert _one(db_url, "SELECT count(audio_url) FROM public.episodes") == urls
    assert plan_database(db_url, read_schema()).is_empty  # drift against the files before any one-off
    with psycopg.connect(db_url, autocommit=True) as conn:
        kinds = [(r["version"], r["kind"]) for r in list_versions(conn)]
        runs = conn.execute(
            "SELECT changes FROM schemaflow.migration_history "
            "WHERE changes::text LIKE '%rolled back%' ORDER BY id"
        ).fetchall()
    assert kinds[3:] == [(BACKFILL[:14], "rollback"), (RETYPE[:14], "rollback"), (RENAME[:14], "rollback")]
    assert len(runs) == 2

    # Applied again after the rollback, the backfill starts from its first batch.
    apply_schema(db_url, end_state_master(), environment="dev", migrations_dir=env_folder, **LIMITS)  # type: ignore[arg-type]
    assert _one(db_url, "SELECT count(*) FROM public.listener_events WHERE listened_minutes IS NULL") == 0


@pytest.mark.usefixtures("prefect_harness")
def test_rollback_of_a_file_without_a_down_section_refuses_and_prints_the_restore_command(
    env_folder: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    path = env_folder / RETYPE
    path.write_text(path.read_text().split("-- schemaflow: down")[0])
    apply_schema(db_url, end_state_master(), environment="dev", migrations_dir=env_folder,
                 restore_command=RESTORE, **LIMITS)  # type: ignore[arg-type]  # fmt: skip
    assert main(["rollback", "--env", "dev", "--to", "0"]) == 1
    err = capsys.readouterr().err
    assert f"{RETYPE} has no down section" in err and "nothing was changed" in err and RESTORE in err
    # Refused before any change: the newer backfill was not undone either.
    assert _one(db_url, "SELECT count(*) FROM schemaflow.migration_versions WHERE kind = 'rollback'") == 0
    assert _one(db_url, "SELECT count(listened_minutes) FROM public.listener_events")


def test_rollback_where_confirmation_is_required_stops_without_it(
    env_folder: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["rollback", "--env", "guarded", "--to", "0"]) == 1
    assert "requires confirmation; nothing was changed" in capsys.readouterr().err


def test_lint_migrations_wants_an_acknowledgement_for_a_drop_and_migrate_refuses_without_it(
    env_folder: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["lint-migrations", "--env", "dev"]) == 0
    drop = env_folder / "20261201100000_drop_podcast_language.sql"
    drop.write_text("ALTER TABLE public.episodes DROP COLUMN IF EXISTS audio_url;\n")
    assert main(["lint-migrations", "--env", "dev"]) == 1
    out = capsys.readouterr().out
    assert f"{drop.name}:1: error: SF101: DROP COLUMN without an acknowledgement" in out
    from db.errors import CheckFailed

    with pytest.raises(CheckFailed, match="without an acknowledgement"):
        apply_schema(db_url, end_state_master(), environment="dev", migrations_dir=env_folder, **LIMITS)  # type: ignore[arg-type]
    assert _one(db_url, "SELECT to_regclass('schemaflow.migration_versions')") is None


@pytest.mark.usefixtures("prefect_harness")
def test_pending_one_offs_in_an_environment_that_approves_plans_stop_the_run_before_any_change(
    env_folder: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    # The approved plan covers the master only; running it would skip the one-offs: fail closed.
    assert main(["migrate", "--env", "approved", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "3 one-off migration(s) pending" in err and "nothing was changed" in err
    assert _one(db_url, "SELECT count(audio_url) FROM public.episodes")
    assert _one(db_url, "SELECT to_regclass('schemaflow.migration_versions')") is None


def test_versions_lists_the_history_and_repair_records_an_edited_file_on_purpose(
    env_folder: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    apply_schema(db_url, end_state_master(), environment="dev", migrations_dir=env_folder, **LIMITS)  # type: ignore[arg-type]
    path = env_folder / RENAME
    path.write_text(path.read_text() + "-- reviewed again\n")
    assert main(["repair", "--env", "dev", "--version", RENAME[:14], "--reason", "a comment added"]) == 0
    assert main(["versions", "--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert f"{RENAME[:14]}  repair" in out and f"{BACKFILL[:14]}  applied" in out
    with psycopg.connect(db_url, autocommit=True) as conn:
        [detail] = [r["detail"] for r in list_versions(conn) if r["kind"] == "repair"]
    assert "a comment added" in detail
    again = apply_schema(db_url, end_state_master(), environment="dev", migrations_dir=env_folder, **LIMITS)  # type: ignore[arg-type]
    assert again.changes == []


def test_versions_shows_a_failed_attempt_as_tried_with_what_it_left(
    env_folder: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    """A failed one-off is recorded with kind 'applied'; the list read "applied  failed" as if it were."""
    from db.errors import ApplyFailed
    from tasks.reporting import RunReport

    (env_folder / "20991231000000_divide.sql").write_text("SELECT 1 / 0;\n")
    with pytest.raises(ApplyFailed, match="division by zero") as failure:
        apply_schema(db_url, end_state_master(), environment="dev", migrations_dir=env_folder, **LIMITS)  # type: ignore[arg-type]
    # The run's report: the one-off stopped it before the master's plan, so no "0 planned step(s)"
    # and no empty "mode" (it read "(0 planned step(s), 1 attempt(s), 0.2 s, mode )").
    report = RunReport(environment="dev", apply=failure.value.result).to_markdown()
    [line] = [line for line in report.splitlines() if line.startswith("- apply ran and")]
    assert "planned step(s)" not in line and "mode" not in line and "attempt(s)" in line, line
    assert "20991231000000_divide" in report
    capsys.readouterr()
    assert main(["versions", "--env", "dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    [attempt] = [i for i, line in enumerate(lines) if "20991231000000  tried     failed" in line]
    assert "divide" in lines[attempt]
    assert "20991231000000_divide.sql:1 failed: division by zero" in lines[attempt + 1], lines
    assert not any("20991231000000  applied" in line for line in lines)
    assert any("20991231000000  pending" in line for line in lines)  # still to run, once fixed
