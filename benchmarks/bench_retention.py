"""Benchmark: enforce-retention's one-chunk-per-transaction drop against one drop_chunks call.

Run by hand: `.venv/bin/python benchmarks/bench_retention.py [--days 600] [--runs 3]`.
Starts its own throwaway PostgreSQL 15 + TimescaleDB cluster, migrates a database from the master
file, and for each run loads one listener event per day for `--days` days (one chunk each), then
removes what is older than 13 months twice, each time with a writer inserting into the current chunk
meanwhile: `enforce_retention` (each chunk in its own short transaction under lock_timeout, what
apache and plain mode run) and a single `drop_chunks(older_than => cutoff)` (what TimescaleDB's
retention policy runs, one transaction). Prints the medians, the ratio of the first to the second
measured in the same run, and the writer's longest insert during each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from benchmarks.support import throwaway_cluster
from db.deploy.apply import apply_master_schema
from db.deploy.retention import enforce_retention
from db.schema.master_file import read_schema

LOAD_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    event_type, position_seconds)
SELECT now() - make_interval(days => g), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
       'bench', 'play', 0
FROM generate_series(0, %(days)s - 1) AS g
"""
ONE_CALL_SQL = (
    "SELECT count(*) FROM drop_chunks('public.listener_events', older_than => now() - INTERVAL '13 months')"
)
WRITE_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    event_type, position_seconds)
VALUES (now(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'writer', 'play', 0)
"""


def with_writer(url: str, fn: Callable[[], object]) -> tuple[float, float]:
    """(seconds fn took, the writer's longest insert meanwhile)."""
    waits: list[float] = []
    done = threading.Event()

    def write() -> None:
        with psycopg.connect(url, autocommit=True) as writer:
            while not done.is_set():
                clock = time.perf_counter()
                writer.execute(WRITE_SQL)
                waits.append(time.perf_counter() - clock)

    thread = threading.Thread(target=write)
    thread.start()
    clock = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - clock
        done.set()
        thread.join()
    return seconds, max(waits, default=0.0)


def per_chunk(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        enforce_retention(conn, environment="bench", lock_timeout="1s")


def one_call(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ONE_CALL_SQL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with throwaway_cluster("retention") as cluster:
        url = cluster.url()
        apply_master_schema(url, read_schema(), environment="bench")
        results: dict[str, list[tuple[float, float]]] = {
            "per-chunk (enforce-retention)": [],
            "one drop_chunks": [],
        }
        for _ in range(args.runs):
            for name, fn in (("per-chunk (enforce-retention)", per_chunk), ("one drop_chunks", one_call)):
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("TRUNCATE public.listener_events")
                    conn.execute(LOAD_SQL, {"days": args.days})
                results[name].append(with_writer(url, lambda fn=fn: fn(url)))  # type: ignore[misc]
        base = statistics.median(s for s, _ in results["one drop_chunks"])
        for name, samples in results.items():
            seconds = statistics.median(s for s, _ in samples)
            longest = max(w for _, w in samples)
            print(
                f"{name:<30} median {seconds:6.3f} s  {seconds / base:5.2f}x of one drop_chunks  "
                f"writer's longest insert {longest * 1000:7.1f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
