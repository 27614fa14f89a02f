"""Benchmark: a batched backfill (`-- schemaflow: batch N`) with and without a writer of matching rows,
against one plain UPDATE of the same rows.

Run by hand: `.venv/bin/python benchmarks/bench_backfill.py [--events 1000000] [--batch 20000]
[--ordered]`. Starts its own throwaway PostgreSQL 15 + TimescaleDB cluster, applies the master
file, fills listener_events with `--events` rows of region 'r3' (tests/db/versions/backfill_support.py,
random uuid keys, or time-ordered ones with --ordered), then, in the same run, each from the same
state (reset to 'r3' and vacuumed):

1. one UPDATE ... SET region = 'r4' WHERE region = 'r3', one statement, one transaction;
2. the same UPDATE as a batched one-off run by db/versions/run.py, nothing else writing;
3. the same, with a writer inserting an 'r3' row every 50 ms (every 20th in a new chunk).

It prints seconds, rows/s and the ratio to the plain UPDATE for each, the passes, the writer's
longest insert wait, and how many rows still match that were written before the backfill converged.
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
from tests.db.versions.backfill_support import MatchingWriter, fill_events, region_folder, still_matching

PLAIN_UPDATE_SQL = "UPDATE public.listener_events SET region = 'r4' WHERE region = 'r3'"
RESET_SQL = [
    "DROP TABLE IF EXISTS schemaflow.migration_backfill, schemaflow.migration_versions",
    "DELETE FROM public.listener_events WHERE listener_id = 'writer'",
    "UPDATE public.listener_events SET region = 'r3' WHERE region = 'r4'",
    "VACUUM ANALYZE public.listener_events",
]
LIMITS = Limits(lock_timeout="1s", statement_timeout="5min", lock_retries=5)


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in RESET_SQL:
            conn.execute(statement)  # type: ignore[arg-type]  # our constants


def converged_at(lines: list[tuple[float, str]]) -> float:
    return min((t for t, line in lines if "0 rows match" in line), default=float("inf"))


def backfill(url: str, folder: Path, writer: MatchingWriter | None) -> tuple[float, str, int]:
    """Seconds, the run's detail, and the writer's rows written before convergence that still match."""
    lines: list[tuple[float, str]] = []
    files = discover_migrations(folder)
    started = time.perf_counter()

    def log(line: str) -> None:
        lines.append((time.monotonic(), line))

    ran = run_pending_migrations(url, files, environment="bench", limits=LIMITS, log=log)
    seconds = time.perf_counter() - started
    missed = still_matching(url, writer.keys_before(converged_at(lines))) if writer else 0
    return seconds, ran.files[0].detail, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--ordered", action="store_true", help="time-ordered keys instead of random uuids")
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
        fill_events(url, args.events, ordered=args.ordered)
        reset(url)
        folder = region_folder(root, args.batch)

        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(PLAIN_UPDATE_SQL)
        plain = time.perf_counter() - started
        reset(url)
        alone, alone_detail, _ = backfill(url, folder, None)
        reset(url)
        with MatchingWriter(url, every=0.05, ordered=args.ordered) as writer:
            loaded, loaded_detail, missed = backfill(url, folder, writer)

        keys = "time-ordered" if args.ordered else "random"
        print(f"\n{args.events} rows in listener_events ({keys} keys), batch {args.batch}")
        print(f"{'':34} {'seconds':>8} {'rows/s':>9} {'vs one UPDATE':>14}")
        for label, seconds in (
            ("one UPDATE, one transaction", plain),
            ("batched backfill, no writer", alone),
            ("batched backfill, writer 50 ms", loaded),
        ):
            print(f"{label:34} {seconds:8.1f} {args.events / seconds:9.0f} {seconds / plain:13.2f}x")
        print(f"no writer: {alone_detail}")
        print(f"writer: {loaded_detail}")
        print(
            f"writer: {len(writer.written)} rows, longest insert wait {max(writer.waits) * 1000:.0f} ms, "
            f"{len(writer.failures)} failed; written before convergence and still matching: {missed}"
        )
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
