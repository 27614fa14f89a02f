"""The migration history table: created on demand, one row per run, read back newest first."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from db.deploy.history import HistoryRecord, git_commit, list_runs, record_run


def _record(environment: str, outcome: str = "success", **extra: object) -> HistoryRecord:
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return HistoryRecord(
        environment=environment,
        checksum="c" * 64,
        outcome=outcome,
        started_at=start,
        finished_at=start + timedelta(seconds=1.5),
        **extra,
    )  # type: ignore[arg-type]


def test_list_runs_is_empty_before_any_run(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert list_runs(conn) == []
        exists = conn.execute("SELECT to_regclass('schemaflow.migration_history')").fetchone()
    assert exists == (None,)


def test_runs_are_recorded_and_listed_newest_first_per_environment(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        first = record_run(conn, _record("staging", objects_changed=7, changes=[{"action": "created"}]))
        second = record_run(conn, _record("production", "failed", error_message="boom"))
        third = record_run(conn, _record("staging", attempts=2))
        conn.commit()
        staging = list_runs(conn, "staging")
        everything = list_runs(conn, limit=2)
    assert [r["id"] for r in staging] == [third, first]
    assert staging[1]["objects_changed"] == 7 and staging[0]["attempts"] == 2
    assert float(staging[0]["duration_seconds"]) == 1.5
    assert staging[0]["db_user"] == "postgres" and staging[0]["client_host"]
    assert [r["id"] for r in everything] == [third, second]
    assert everything[1]["error_message"] == "boom"


def test_recording_is_part_of_the_callers_transaction(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        record_run(conn, _record("local"))
        conn.rollback()
        assert list_runs(conn) == []


def test_git_commit_is_the_checkouts_head_or_none_outside_git(tmp_path: Path) -> None:
    head = git_commit()
    in_checkout = (Path(__file__).resolve().parents[2] / ".git").exists()
    shape = r"[0-9a-f]{40}(-dirty)?"
    assert (head is not None and re.fullmatch(shape, head)) if in_checkout else head is None
    assert git_commit(tmp_path) is None


def test_git_commit_is_marked_dirty_when_the_checkout_is_not_what_head_says(tmp_path: Path) -> None:
    """A run from an edited checkout did not deploy HEAD: its history row must not say it did."""
    import subprocess

    def git(*argv: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *argv], check=True, capture_output=True)

    git("init", "-q")
    assert git_commit(tmp_path) is None  # no commit yet: nothing to name
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    master = tmp_path / "db" / "migrations" / "99999999999999_master_schema.sql"
    master.write_text("CREATE TABLE t (id int);\n")
    (tmp_path / "notes.txt").write_text("x\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "base")
    clean = git_commit(tmp_path)
    assert clean is not None and re.fullmatch(r"[0-9a-f]{40}", clean)
    (tmp_path / "scratch.txt").write_text("an untracked file elsewhere is not the deploy\n")
    assert git_commit(tmp_path) == clean
    master.write_text("CREATE TABLE t (id bigint);\n")
    assert git_commit(tmp_path) == f"{clean}-dirty"
    git("checkout", "-q", "--", ".")
    assert git_commit(tmp_path) == clean
    (tmp_path / "db" / "migrations" / "20990101000000_new.sql").write_text("SELECT 1;\n")
    assert git_commit(tmp_path) == f"{clean}-dirty"  # a one-off not yet committed is deployed too
