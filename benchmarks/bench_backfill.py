"""Benchmark: a batched one-off backfill (`-- schemaflow: batch N`) vs one UPDATE, under an insert load.

Run by hand: `.venv/bin/python benchmarks/bench_backfill.py [--events 1000000] [--batch 50000] [--rate 25]`.
Starts its own throwaway PostgreSQL 15 + TimescaleDB cluster, applies the master file, seeds and
grows listener_events to `--events` rows, then, under the same steady insert load, in the same run:

1. baseline: the load alone;
2. schemaflow: the backfill one-off (tests/db/versions/support.py) run by db/versions/run.py,
   batches of `--batch` rows keyed on the primary key, each its own transaction;
3. for contrast: the same UPDATE in one statement and one transaction.

It prints seconds, rows/s, and max and p99 insert latency for each, with ratios to the baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql

from db.deploy.apply import apply_master_schema
from db.local.cluster import LocalCluster, free_port
from db.versions.files import discover_migrations
from db.versions.run import Limits, run_pending_migrations
from tests.db.versions.support import BACKFILL, end_state_master, migrations_folder, populate
from tests.support.insert_load import InsertLoad, LoadReport

RESET_SQL = [
    "ALTER TABLE public.listener_events DROP COLUMN IF EXISTS listened_minutes",
    "DROP TABLE IF EXISTS schemaflow.migration_backfill, schemaflow.migration_versions",
    "ALTER TABLE public.listener_events ADD COLUMN listened_minutes integer",
    "VACUUM public.listener_events",
]
ONE_UPDATE_SQL = (
    "UPDATE public.listener_events SET listened_minutes = duration_seconds / 60 "
    "WHERE listened_minutes IS NULL"
)


def under_load(url: str, rate: float, work, settle: float = 1.0) -> tuple[LoadReport, float]:  # type: ignore[no-untyped-def]
    with InsertLoad(url, rate) as load:
        time.sleep(settle)
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        time.sleep(settle)
    return load.report, seconds


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in RESET_SQL:
            conn.execute(statement)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=25.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    root.chmod(0o755)  # the server runs as the postgres OS user when this runs as root
    cluster = LocalCluster(datadir=root / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = cluster.url(name)
        apply_master_schema(url, record_history=False)
        rows = populate(url, events=args.events)
        folder = migrations_folder(root, end_state_master(), batch=args.batch, files=(BACKFILL,))
        files = discover_migrations(folder)

        base, _ = under_load(url, args.rate, lambda: time.sleep(5))
        reset(url)
        batched, batched_s = under_load(
            url,
            args.rate,
            lambda: run_pending_migrations(url, files, environment="bench", limits=Limits("1s", "1h", 5)),
        )
        reset(url)

        def one_update() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(ONE_UPDATE_SQL)

        single, single_s = under_load(url, args.rate, one_update)
        print(f"\n{rows} rows in listener_events, insert load {args.rate}/s, batch {args.batch}")
        print(f"{'':28} {'seconds':>8} {'rows/s':>9} {'insert max ms':>14} {'p99 ms':>8} {'max vs base':>12}")
        for label, report, seconds in (
            ("baseline (load alone)", base, 0.0),
            (f"schemaflow batch {args.batch}", batched, batched_s),
            ("one UPDATE, one transaction", single, single_s),
        ):
            rate = f"{rows / seconds:9.0f}" if seconds else f"{'-':>9}"
            ratio = report.max_latency / base.max_latency if base.max_latency else 0.0
            print(
                f"{label:28} {seconds:8.1f} {rate} {report.max_latency * 1000:14.1f} "
                f"{report.p99_latency * 1000:8.1f} {ratio:11.1f}x  ({len(report.failures)} failed)"
            )
        print(f"batched / one UPDATE time: {batched_s / single_s:.2f}x")
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
