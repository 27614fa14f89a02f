"""Benchmark: plan, drift and `health --no-gx` as the number of chunks grows (ratios to 60 chunks).

Run by hand: `.venv/bin/python benchmarks/bench_chunks.py [--chunks 60,3000,10000] [--runs N]`.
Starts its own throwaway PostgreSQL 15 + TimescaleDB cluster, migrates a database from the master
file, then for each chunk count adds one-day chunks to listener_events (one row a day, going back in
time) and times, median of N runs: `plan_database`, `check_drift` and the health checks (what
`schemaflow health --no-gx` runs), each printed with its ratio to the first count's time, measured in
the same run. Goal: at most 1.5x at 3,000 chunks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from benchmarks.support import throwaway_cluster
from db.catalog.drift import check_drift
from db.deploy.apply import apply_master_schema
from db.deploy.health import run_health_checks
from db.plan.database import plan_database
from db.schema.master_file import read_schema

# One row per day further back than any earlier batch: each row opens a chunk of its own.
ADD_CHUNKS_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    event_type, position_seconds)
SELECT now() - make_interval(days => g), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
       'bench', 'play', 0
FROM generate_series(%(start)s, %(stop)s - 1) AS g
"""
BATCH = 500  # chunks per INSERT: max_locks_per_transaction is 64 per connection by default
CHUNKS_SQL = "SELECT count(*) FROM timescaledb_information.chunks"


def median_seconds(runs: int, fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def health(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        run_health_checks(conn)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", default="60,3000,10000", help="chunk counts, ascending")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    counts = [int(n) for n in args.chunks.split(",")]
    with throwaway_cluster("chunks") as cluster:
        url = cluster.url()
        text = read_schema()
        apply_master_schema(url, text, environment="bench")
        plan_database(url, text)  # the first run makes the scratch database; it is reused after
        results: dict[int, dict[str, float]] = {}
        days = 0
        for count in counts:
            with psycopg.connect(url, autocommit=True) as conn:
                clock = time.perf_counter()
                for start in range(days, count, BATCH):  # each new chunk holds a lock until commit
                    conn.execute(ADD_CHUNKS_SQL, {"start": start, "stop": min(start + BATCH, count)})
                conn.execute("ANALYZE public.listener_events")
                chunks = conn.execute(CHUNKS_SQL).fetchone()[0]  # type: ignore[index]
            days = count
            print(f"{chunks} chunks (added in {time.perf_counter() - clock:.1f} s)")
            results[count] = {
                "plan": median_seconds(args.runs, lambda: plan_database(url, text)),
                "drift": median_seconds(args.runs, lambda: check_drift(url, schema_sql=text)),
                "health --no-gx": median_seconds(args.runs, lambda: health(url)),
            }
            first = results[counts[0]]
            for name, seconds in results[count].items():
                print(
                    f"  {name:<16} median {seconds:6.3f} s  "
                    f"{seconds / first[name]:5.2f}x of {counts[0]} chunks"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
