"""A batched backfill killed with SIGKILL resumes after its last committed batch and redoes none."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from db.deploy.apply import apply_master_schema
from db.versions.files import discover_migrations
from db.versions.run import run_pending_migrations
from tests.db.versions.support import BACKFILL, end_state_master, migrations_folder, populate

ROOT = Path(__file__).resolve().parents[3]
EVENTS = 200_000
BATCH = 5_000
DRIVER = """
import sys
from db.versions.files import discover_migrations
from db.versions.run import run_pending_migrations
run_pending_migrations(sys.argv[1], discover_migrations(sys.argv[2]), environment="test")
"""
OTHER_SESSIONS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'schemaflow'"


def _one(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def test_a_backfill_killed_mid_way_resumes_after_its_last_batch_and_redoes_none(
    db_url: str, tmp_path: Path
) -> None:
    apply_master_schema(db_url, record_history=False)
    rows = populate(db_url, events=EVENTS)
    folder = migrations_folder(tmp_path, end_state_master(), batch=BATCH, files=(BACKFILL,))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, db_url, str(folder)], cwd=ROOT, env=env)
    deadline = time.monotonic() + 300
    done_at_kill = 0
    while time.monotonic() < deadline and driver.poll() is None:
        if _one(db_url, "SELECT to_regclass('schemaflow.migration_backfill') IS NOT NULL"):
            done_at_kill = int(
                _one(db_url, "SELECT coalesce(max(batches), 0) FROM schemaflow.migration_backfill") or 0
            )  # type: ignore[call-overload]
            if done_at_kill >= 3:
                break
        time.sleep(0.05)
    assert driver.poll() is None, "the backfill finished before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # The server ends the dead client's session (client_connection_check_interval) with its lock.
    while _one(db_url, OTHER_SESSIONS_SQL) and time.monotonic() < deadline:
        time.sleep(0.2)
    committed = int(_one(db_url, "SELECT batches FROM schemaflow.migration_backfill") or 0)  # type: ignore[call-overload]
    rows_committed = int(_one(db_url, "SELECT rows_done FROM schemaflow.migration_backfill") or 0)  # type: ignore[call-overload]
    assert committed >= done_at_kill >= 3 and rows_committed == committed * BATCH
    assert (
        _one(db_url, "SELECT count(*) FROM public.listener_events WHERE listened_minutes IS NOT NULL")
        == rows_committed
    )
    assert _one(db_url, "SELECT count(*) FROM schemaflow.migration_versions") == 0  # not applied yet

    logged: list[str] = []
    ran = run_pending_migrations(db_url, discover_migrations(folder), environment="test", log=logged.append)
    batch_lines = [line for line in logged if ": batch " in line]
    print(f"\nkilled after {committed} batches; the rerun ran {len(batch_lines)}: {ran.files[0].detail}")
    # Resumed: its first batch is the one after the last committed one, and no batch ran twice.
    assert batch_lines[0].split(": batch ")[1].startswith(f"{committed + 1}:")
    total = math.ceil(rows / BATCH)
    assert len(batch_lines) == total - committed
    assert _one(db_url, "SELECT ARRAY[batches, rows_done] FROM schemaflow.migration_backfill") == [
        total,
        rows,
    ]
    assert _one(db_url, "SELECT count(*) FROM public.listener_events WHERE listened_minutes IS NULL") == 0
    assert f"resumed after batch {committed}" in ran.files[0].detail
