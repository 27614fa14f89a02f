"""The executor under an insert load into listener_events, and killed mid-build (issue 12).

One seeded database for the module (~200k events: the CI size; benchmarks/bench_online_apply.py
measures 1M+): the three online changes run while 25 inserts/s go into the hypertable.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from db.deploy.apply import apply_master_schema
from db.deploy.execute import execute_plan
from db.local.cluster import LocalCluster
from db.local.seed import seed_database
from tests.conftest import create_database, drop_database
from tests.support.insert_load import InsertLoad
from tests.support.online_plan import HYPERTABLE_INDEX, PLAIN_INDEX, online_plan

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 200_000
LOCK_TIMEOUT_SECONDS = 1.0
INVALID_INDEXES_SQL = """
SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND n.nspname IN ('public', '_timescaledb_internal')
"""
VALIDATED_FK_SQL = """
SELECT convalidated FROM pg_constraint
WHERE conname = 'listener_events_episode_fk' AND conrelid = 'public.listener_events'::regclass
"""
OTHER_SCHEMAFLOW_SESSIONS_SQL = """
SELECT 1 FROM pg_stat_activity WHERE application_name = 'schemaflow' AND pid <> pg_backend_pid()
"""
# By time, not by name: chunk names sort as text (_hyper_1_9_chunk after _hyper_1_31_chunk).
NEWEST_CHUNK_SQL = """
SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks
WHERE hypertable_schema = 'public' AND hypertable_name = 'listener_events'
ORDER BY range_end DESC LIMIT 1
"""
# An expression costly enough that the per-chunk build takes seconds on 200k rows: killable mid-way.
SLOW_INDEXED = "(md5(listener_id || event_id::text || coalesce(user_agent, ''))), event_time"
DRIVER = """
import sys
from db.deploy.execute import execute_plan
from tests.support.online_plan import online_plan
SLOW = sys.argv[3]
execute_plan(sys.argv[1], online_plan(sys.argv[2], False, SLOW), environment="test")
"""


@pytest.fixture(scope="module")
def seeded_url(pg_cluster: LocalCluster) -> Iterator[str]:
    url = create_database(pg_cluster, "load")
    apply_master_schema(url, record_history=False)
    clock = time.monotonic()
    seed_database(url, tenants=3, events=EVENTS, days=30, workers=2)
    print(f"\nseeded {EVENTS} events in {time.monotonic() - clock:.1f} s")
    yield url
    drop_database(pg_cluster, url)


def _one(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def test_online_changes_under_insert_load_fail_no_insert_and_stall_none_past_lock_timeout(
    seeded_url: str,
) -> None:
    with InsertLoad(seeded_url, rate=25) as load:
        time.sleep(1.0)  # the load is running before the deploy starts
        result = execute_plan(
            seeded_url,
            online_plan(),
            environment="test",
            lock_timeout=f"{int(LOCK_TIMEOUT_SECONDS * 1000)}ms",
            allow_hazards=["validates_data"],
        )
        time.sleep(1.0)
    report = load.report
    print(f"\ninsert load during the deploy: {report.summary()}")
    for step in result.steps:
        wait = f"lock wait {step.lock_wait_seconds:.3f} s"
        print(f"  step {step.number} {step.status} {step.seconds:.3f} s, {wait}: {step.sql[:80]}")
    assert [s.status for s in result.steps] == ["done"] * 4
    assert report.failures == []
    assert report.rate >= 20, report.summary()
    assert report.max_latency < LOCK_TIMEOUT_SECONDS + 0.5, report.summary()
    assert _one(
        seeded_url,
        f"SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.{HYPERTABLE_INDEX}'::regclass",
    )
    assert _one(
        seeded_url, f"SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.{PLAIN_INDEX}'::regclass"
    )
    assert _one(seeded_url, VALIDATED_FK_SQL)


def test_kill_9_during_an_online_index_build_then_a_rerun_converges_with_no_invalid_index(
    seeded_url: str,
) -> None:
    index = "idx_listener_events_killed"
    # The newest chunk stays locked, so the per-chunk build is still running when the kill comes,
    # however fast the machine builds the other chunks.
    blocker = psycopg.connect(seeded_url)
    newest = blocker.execute(NEWEST_CHUNK_SQL).fetchone()
    assert newest is not None
    blocker.execute(f"LOCK TABLE {newest[0]} IN ROW EXCLUSIVE MODE")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, seeded_url, index, SLOW_INDEXED], cwd=ROOT)
    with blocker, psycopg.connect(seeded_url, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
                (f"CREATE INDEX IF NOT EXISTS {index}%",),
            ).fetchone():
                break
            time.sleep(0.02)
        # Some chunks built, others not: each chunk's index commits on its own, so it shows here.
        while time.monotonic() < deadline and driver.poll() is None:
            built = conn.execute(
                "SELECT count(*) FROM _timescaledb_catalog.chunk_index WHERE hypertable_index_name = %s",
                (index,),
            ).fetchone()
            if built and built[0] > 0:
                break
            time.sleep(0.01)
        assert driver.poll() is None, "the build finished before it could be killed: make it slower"
        driver.kill()
        driver.wait(timeout=10)
        # The server notices the dead client within client_connection_check_interval, while its
        # build still waits for the locked chunk. Releasing the chunk before that would let the
        # orphaned build finish the index in the meantime.
        for _ in range(100):
            if not conn.execute(OTHER_SCHEMAFLOW_SESSIONS_SQL).fetchone():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the killed migrate's session was still on the server after 10 s")
        blocker.rollback()
        left = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                            (f"public.{index}",)).fetchone()  # fmt: skip
    assert left is not None and left[0] is False, "the kill must leave the half-built index behind"

    rerun = execute_plan(seeded_url, online_plan(index, False, SLOW_INDEXED), environment="test")
    assert [s.status for s in rerun.steps] == ["done"] * 2
    assert rerun.steps[0].detail.startswith("rebuilt: an earlier build had left it invalid"), rerun.steps[0]
    print(f"\nrerun after kill -9: {rerun.steps[0].detail}")
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        assert conn.execute(INVALID_INDEXES_SQL).fetchall() == []
        chunks = conn.execute("SELECT count(*) FROM show_chunks('public.listener_events')").fetchone()
        indexed = conn.execute(
            "SELECT count(*) FROM _timescaledb_catalog.chunk_index WHERE hypertable_index_name = %s", (index,)
        ).fetchone()
    assert chunks == indexed
