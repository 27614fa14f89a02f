"""One-offs on a populated database under an insert load (issue 15): rename, type change, 1M-row backfill.

One database for the module: the master file, seeded (db/local/seed.py) and grown to 1M events in
listener_events. The one-offs and the master's end state live in a temporary folder, never in the
repository's db/migrations/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from db.deploy.apply import apply_master_schema
from db.local.cluster import LocalCluster
from db.plan.database import plan_database
from db.run.plan_apply import apply_schema
from db.versions.history import list_versions
from tests.conftest import create_database, drop_database
from tests.db.versions.support import BACKFILL, RENAME, RETYPE, end_state_master, migrations_folder, populate
from tests.support.insert_load import InsertLoad

EVENTS = 1_000_000
LOCK_TIMEOUT_SECONDS = 1.0
LIMITS = {"lock_timeout": "1s", "statement_timeout": "5min", "lock_retries": 5}


@pytest.fixture(scope="module")
def populated(pg_cluster: LocalCluster) -> Iterator[tuple[str, int]]:
    url = create_database(pg_cluster, "versions")
    apply_master_schema(url, record_history=False)
    count = populate(url, events=EVENTS)
    yield url, count
    drop_database(pg_cluster, url)


def _one(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def test_rename_retype_and_batched_backfill_under_insert_load_keep_every_row_and_rerun_does_nothing(
    populated: tuple[str, int], tmp_path: Path
) -> None:
    url, events_before = populated
    assert events_before >= EVENTS
    master = end_state_master()
    folder = migrations_folder(tmp_path, master, batch=50_000)
    urls_before = _one(url, "SELECT count(audio_url) FROM public.episodes")
    episodes_before = _one(url, "SELECT count(*) FROM public.episodes")
    assert urls_before and urls_before == episodes_before
    logged: list[str] = []

    clock = time.monotonic()
    with InsertLoad(url, rate=25) as load:
        result = apply_schema(
            url,
            master,
            environment="test",
            migrations_dir=folder,
            log=logged.append,
            **LIMITS,  # type: ignore[arg-type]
        )
    print(f"apply with 3 one-offs: {time.monotonic() - clock:.1f} s; {load.report.summary()}")
    print("\n".join(logged[-3:]))

    assert load.report.failures == []
    assert load.report.rate >= 20
    # No statement made an insert wait longer than lock_timeout (generous margin for a loaded CI box).
    assert load.report.max_latency < LOCK_TIMEOUT_SECONDS + 1.0, load.report.summary()
    assert result.outcome == "committed"
    applied = [c.name for c in result.changes if c.action == "applied one-off"]
    assert applied == [RENAME, RETYPE, BACKFILL]
    # The plan after the one-offs is empty: the rename was not re-planned as a drop and a create.
    assert [c for c in result.changes if c.kind != "migration"] == []
    inserted = len(load.report.latencies)
    assert _one(url, "SELECT count(*) FROM public.listener_events") == events_before + inserted
    assert _one(url, "SELECT count(*) FROM public.listener_events WHERE listened_minutes IS NULL") == 0
    assert (
        _one(
            url, "SELECT count(*) FROM public.listener_events WHERE listened_minutes <> duration_seconds / 60"
        )
        == 0
    )
    assert _one(url, "SELECT count(media_url) FROM public.episodes") == urls_before
    assert (
        _one(
            url,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'public.episodes'::regclass AND attname = 'season_number'",
        )
        == "bigint"
    )
    progress = _one(url, "SELECT ARRAY[batches, rows_done] FROM schemaflow.migration_backfill")
    assert isinstance(progress, list)
    batches, rows_done = (int(v) for v in progress)
    # Every existing row (and those the load wrote before the column's default) was filled once:
    # ceil(rows / 50k) batches, none redone.
    assert rows_done >= events_before and batches == -(-rows_done // 50_000)
    assert any("batch 2:" in line for line in logged)  # progress in the log

    rows = list_versions(psycopg.connect(url, autocommit=True))
    assert sorted(r["version"] for r in rows) == sorted(n[:14] for n in (RENAME, RETYPE, BACKFILL))
    assert {r["kind"] for r in rows} == {"applied"} and {r["outcome"] for r in rows} == {"success"}

    clock = time.monotonic()
    again = apply_schema(url, master, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    print(f"rerun: {time.monotonic() - clock:.1f} s")
    assert again.changes == []
    assert len(list_versions(psycopg.connect(url, autocommit=True))) == 3
    assert plan_database(url, master).is_empty
