"""A batched backfill is done only when its WHERE matches no row, under a writer of matching rows (issue 22).

One database for the module; each test refills listener_events with 'r3' rows (generate_series)
and runs the one-off `UPDATE ... SET region = 'r4' WHERE region = 'r3'` in batches while a writer
inserts 'r3' rows every 50 ms, every 20th into a new chunk. A row the writer wrote before the
backfill said it converged must not match; inserts must never wait longer than lock_timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.deploy.apply import apply_master_schema
from db.deploy.result import ApplyResult
from db.local.cluster import LocalCluster
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from db.versions.backfill import DEFAULT_MAX_PASSES, BackfillNotConverged, started_backfills
from db.versions.files import discover_migrations
from db.versions.history import list_versions
from db.versions.run import Limits, run_pending_migrations
from tests.conftest import create_database, drop_database
from tests.db.versions.backfill_support import (
    ORDERED_KEY,
    WRITE_SQL,
    MatchingWriter,
    count_matching,
    fill_events,
    region_folder,
    still_matching,
)
from tests.support.environments import write_test_environments

TEN_YEARS_AGO = -20 * 3650  # WRITE_SQL's n: its event_time is now() + n / 20 days
MAX_WRITES = 1_000

ROOT = Path(__file__).resolve().parents[3]
EVENTS = int(os.environ.get("SCHEMAFLOW_TEST_BACKFILL_EVENTS", "200000"))
BATCH = 10_000
LIMITS = Limits(lock_timeout="1s", statement_timeout="1min", lock_retries=5)
LOCK_TIMEOUT_SECONDS = 1.0
DRIVER = """
import sys
from db.versions.files import discover_migrations
from db.versions.run import run_pending_migrations
run_pending_migrations(sys.argv[1], discover_migrations(sys.argv[2]), environment="test")
"""
TRIGGERS_SQL = (
    "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.listener_events'::regclass "
    "AND tgname LIKE 'schemaflow_backfill_%'"
)


@pytest.fixture(scope="module")
def events_db(pg_cluster: LocalCluster) -> Iterator[str]:
    url = create_database(pg_cluster, "backfill")
    apply_master_schema(url, record_history=False)
    yield url
    drop_database(pg_cluster, url)


def _reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS schemaflow.migration_backfill, schemaflow.migration_versions")


def _one(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


class _Log:
    """The run's log lines, and when the backfill said it converged (before it drops its trigger)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.converged_at = float("inf")

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if "0 rows match" in line:
            self.converged_at = min(self.converged_at, time.monotonic())


@pytest.mark.parametrize("ordered", [False, True], ids=["random-keys", "time-ordered-keys"])
def test_a_backfill_with_a_writer_inserting_matching_rows_ends_with_none_matching(
    events_db: str, tmp_path: Path, ordered: bool
) -> None:
    _reset(events_db)
    fill_events(events_db, EVENTS, ordered=ordered)
    files = discover_migrations(region_folder(tmp_path, BATCH))
    log = _Log()
    clock = time.monotonic()
    with MatchingWriter(events_db, every=0.05, ordered=ordered) as writer:
        ran = run_pending_migrations(events_db, files, environment="test", limits=LIMITS, log=log)
        time.sleep(0.3)  # rows written after the trigger is gone match again: the writer's own business
    seconds = time.monotonic() - clock
    before = writer.keys_before(log.converged_at)
    print(
        f"\n{EVENTS} rows, {'time-ordered' if ordered else 'random'} keys: {seconds:.1f} s, "
        f"{len(writer.written)} rows written meanwhile ({len(before)} before it converged), "
        f"max insert wait {max(writer.waits) * 1000:.0f} ms; {ran.files[0].detail}"
    )
    assert ran.files[0].status == "done" and not writer.failures
    assert len(before) >= 20, "the writer wrote too few rows during the backfill to show anything"
    # Not one row the writer committed before the backfill converged still matches, nor any filled row.
    assert still_matching(events_db, before) == 0
    assert count_matching(events_db) == len(writer.written) - len(before) - _caught_after(
        events_db, writer, log
    )
    assert max(writer.waits) < LOCK_TIMEOUT_SECONDS
    state = _backfill_state(events_db, files[0].version)
    assert state["finished"] and state["left_matching"] == 0 and state["passes"] >= 2
    assert state["rows"] >= EVENTS  # the filled rows, and those the trigger did not already change
    assert [r["outcome"] for r in _outcomes(events_db)] == ["success"]
    assert _one(events_db, TRIGGERS_SQL) == 0  # dropped once converged


def _backfill_state(url: str, version: str) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        return started_backfills(conn)[version][0]


def _outcomes(url: str) -> list[dict]:
    with psycopg.connect(url, autocommit=True) as conn:
        return list_versions(conn)


def _caught_after(url: str, writer: MatchingWriter, log: _Log) -> int:
    """Writer rows written after convergence that the trigger (still there until dropped) changed."""
    later = [w.key for w in writer.written if w.returned_at >= log.converged_at]
    return still_matching(url, later, region="r4")


def test_a_backfill_killed_with_the_writer_running_resumes_and_ends_with_none_matching(
    events_db: str, tmp_path: Path
) -> None:
    _reset(events_db)
    fill_events(events_db, EVENTS // 2, ordered=False)
    folder = region_folder(tmp_path, BATCH // 4)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with MatchingWriter(events_db, every=0.05) as writer:
        driver = subprocess.Popen([sys.executable, "-c", DRIVER, events_db, str(folder)], cwd=ROOT, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if _one(events_db, "SELECT to_regclass('schemaflow.migration_backfill') IS NOT NULL") and (
                int(
                    _one(events_db, "SELECT coalesce(max(batches), 0) FROM schemaflow.migration_backfill")
                    or 0
                )  # type: ignore[call-overload]
                >= 3
            ):
                break
            time.sleep(0.05)
        assert driver.poll() is None, "the backfill finished before it could be killed"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        killed_at = time.monotonic()
        time.sleep(1.0)  # the writer goes on while no backfill runs
        # The trigger outlives the killed run: rows written meanwhile were changed as they were written.
        assert _one(events_db, TRIGGERS_SQL) == 1
        between = [w.key for w in writer.written if w.returned_at > killed_at]
        assert between and still_matching(events_db, between) == 0
        assert _one(events_db, "SELECT count(*) FROM schemaflow.migration_versions") == 0  # not applied
        log = _Log()
        ran = run_pending_migrations(
            events_db, discover_migrations(folder), environment="test", limits=LIMITS, log=log
        )
    before = writer.keys_before(log.converged_at)
    print(f"\nkilled, then rerun with the writer on: {ran.files[0].detail}")
    assert ran.files[0].status == "done" and "resumed after batch" in ran.files[0].detail
    assert still_matching(events_db, before) == 0
    assert count_matching(events_db) == len(writer.written) - len(before) - _caught_after(
        events_db, writer, log
    )
    assert max(writer.waits) < LOCK_TIMEOUT_SECONDS and not writer.failures


def test_a_writer_faster_than_the_backfill_stops_it_not_converged_and_the_next_run_continues(
    events_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _reset(events_db)
    fill_events(events_db, 20_000, ordered=False)
    folder = region_folder(tmp_path, 1_000)
    files = discover_migrations(folder)
    write_test_environments(
        tmp_path, events_db, monkeypatch, "[environments.dev]\n", defaults=f'migrations_dir = "{folder}"\n'
    )
    # A replica-role session (logical replication's apply) fires no trigger: only the passes see its rows.
    # It writes a row after every batch, keyed before every filled row, so each pass leaves one behind
    # its cursor: a writer always faster than the passes. (A writer on a clock, 20 rows each 5 ms, let
    # a pass through now and then on a loaded machine, and the backfill rightly converged.) After
    # MAX_WRITES it stops, so a row landing ahead of the cursor fails the test instead of feeding one
    # pass for ever.
    writes: list[str] = []
    with psycopg.connect(events_db, autocommit=True) as writer:
        writer.execute("SET session_replication_role = replica")
        writer.execute("SET lock_timeout = '5s'")  # never a silent wait on the backfill that calls it

        def write_behind_the_cursor(line: str) -> None:
            if ": batch " in line and len(writes) < MAX_WRITES:
                # 00000000-...: before any random key, and each below the last (the primary key is
                # (event_id, event_time)), so behind the cursor of the batch that just ran
                writes.append(ORDERED_KEY.format(n=MAX_WRITES - len(writes)))
                writer.execute(WRITE_SQL.format(key=writes[-1]), {"n": TEN_YEARS_AGO, "rows": 1})  # type: ignore[arg-type]

        with pytest.raises(BackfillNotConverged) as stopped:
            apply_schema(
                events_db, read_schema(), environment="test", migrations_dir=folder,
                log=write_behind_the_cursor, lock_timeout="1s", statement_timeout="1min", lock_retries=5,
            )  # fmt: skip
    assert DEFAULT_MAX_PASSES <= len(writes) < MAX_WRITES, len(writes)  # a row after each pass at least
    message = stopped.value.message
    print(f"\n{message}")
    assert stopped.value.exit_code != 0
    report = stopped.value.result
    assert isinstance(report, ApplyResult) and "a one-off backfill is partly done" in report.outcome
    left = _one(events_db, "SELECT left_matching FROM schemaflow.migration_backfill")
    assert isinstance(left, int) and left > 0
    assert f"not converged: {left} row(s) still match after {DEFAULT_MAX_PASSES} pass(es)" in message
    state = _backfill_state(events_db, files[0].version)
    assert not state["finished"] and state["passes"] == DEFAULT_MAX_PASSES
    history = _outcomes(events_db)
    assert [r["outcome"] for r in history] == ["failed"] and "not converged" in history[0]["detail"]
    assert _one(events_db, TRIGGERS_SQL) == 1  # still catching the rows it can see
    capsys.readouterr()
    assert main(["versions", "--env", "dev"]) == 0
    listed = capsys.readouterr().out
    print(listed)
    assert "partly done" in listed and "pending" not in listed
    so_far = f"{state['batches']} batch(es), {state['rows']} row(s) so far, {DEFAULT_MAX_PASSES} pass(es)"
    assert f"{so_far}, {left} row(s) still matched" in listed

    log = _Log()
    ran = run_pending_migrations(events_db, files, environment="test", limits=LIMITS, log=log)
    assert ran.files[0].status == "done" and count_matching(events_db) == 0
    after = _backfill_state(events_db, files[0].version)
    assert after["finished"] and after["passes"] > DEFAULT_MAX_PASSES and after["left_matching"] == 0
    assert after["rows"] >= state["rows"] + left  # what still matched was updated by the next run
    assert "resumed after batch" in ran.files[0].detail
