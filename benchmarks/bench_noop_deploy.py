"""Benchmark: a no-op deploy (migrate's apply on an up-to-date database) at 0 / 1M / 10M events.

Run by hand, never in CI (the 10M seed takes about 9 minutes and 4 GB):
`.venv/bin/python benchmarks/bench_noop_deploy.py [--sizes 0,1000000,10000000] [--runs 5]`.
Starts its own throwaway PostgreSQL 15 + TimescaleDB cluster. Per size: a fresh database built by
migrate's apply (db/run/plan_apply.py apply_schema), seeded with db/local/seed.py (timed), and
metrics_daily built once (the full backfill a new table gets); then `--runs` no-op deploys through
the same apply_schema, each of which must run no metrics_daily refresh (checked from the result's
post-commit steps). Prints the median per size and its ratio against the empty database of the same
run, and for reference what metrics_daily's own refreshes cost at that size: the scheduled windowed
refresh (3 days) and a full rebuild (what every deploy ran before).

The server runs pg_stat_statements: each no-op deploy's database time (planning + execution of every
statement it sent, on the target database and on the whole server, scratch database included) is
printed per size with its ratio to the empty database's (goal: at most 1.2x at 1M events).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql

from db.deploy.metrics import DEFAULT_WINDOW, FULL_TABLE_REFRESH, refresh_metrics_window
from db.local.cluster import LocalCluster, free_port
from db.local.seed import seed_database
from db.run.plan_apply import apply_schema
from db.schema.master_file import MASTER_SCHEMA

LIMITS = {"lock_timeout": "1s", "statement_timeout": "30min", "lock_retries": 3}
# Milliseconds of planning and execution since the last reset: (the target database's, the server's).
DATABASE_TIME_SQL = """
SELECT coalesce(sum(total_plan_time + total_exec_time) FILTER (WHERE dbid = d.oid), 0),
       coalesce(sum(total_plan_time + total_exec_time), 0)
FROM pg_stat_statements s CROSS JOIN (SELECT oid FROM pg_database WHERE datname = %s) d
"""


def enable_statements(cluster: LocalCluster) -> None:
    """pg_stat_statements beside TimescaleDB (a restart), with planning time tracked."""
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = timescaledb, pg_stat_statements")
    cluster.restart()
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        # Known only once the library is loaded, so set after the restart.
        conn.execute("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def database_time(cluster: LocalCluster, url: str) -> tuple[float, float]:
    """(target, server) seconds of statement time one no-op deploy cost."""
    admin = cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    noop(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        target, server = conn.execute(DATABASE_TIME_SQL, (url.rsplit("/", 1)[1],)).fetchone()  # type: ignore[misc]
    return float(target) / 1000, float(server) / 1000


def fresh_database(cluster: LocalCluster) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.url(name)


def deploy(url: str) -> object:
    return apply_schema(url, MASTER_SCHEMA.read_text(), environment="bench", **LIMITS)  # type: ignore[arg-type]


def build(cluster: LocalCluster, events: int) -> tuple[str, float, float]:
    """A deployed, seeded database with metrics_daily built; (url, seed seconds, backfill seconds)."""
    url = fresh_database(cluster)
    deploy(url)  # empty database: the whole file, metrics_daily built (empty) in the same transaction
    seeded = backfill = 0.0
    if events:
        started = time.perf_counter()
        seed_database(url, events=events, workers=2, tenants=3, days=30, seed=1)
        seeded = time.perf_counter() - started
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(FULL_TABLE_REFRESH)  # the first build's full backfill (seeded after creation)
            backfill = time.perf_counter() - started
            conn.execute("VACUUM ANALYZE")
    return url, seeded, backfill


def noop(url: str) -> float:
    started = time.perf_counter()
    result = deploy(url)
    seconds = time.perf_counter() - started
    ran = [s.name for s in result.post_commit_steps if s.status != "skipped"]  # type: ignore[attr-defined]
    assert result.objects_changed == 0 and ran == [], (result.objects_changed, ran)  # type: ignore[attr-defined]
    return seconds


def refreshes(url: str) -> tuple[float, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        windowed = refresh_metrics_window(conn, DEFAULT_WINDOW).seconds
        started = time.perf_counter()
        conn.execute(FULL_TABLE_REFRESH)
        return windowed, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="0,1000000,10000000", help="listener events per database")
    parser.add_argument(
        "--runs", type=int, default=5, help="rounds of no-op deploys (each size once per round)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-noop-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        enable_statements(cluster)
        built = {events: build(cluster, events) for events in sizes}
        for events, (_, seeded, backfill) in built.items():
            print(
                f"built {events:,} events: seed {seeded:.1f} s, first backfill {backfill:.2f} s", flush=True
            )
        # Rounds, each size once per round, so the shared machine's load drifts over all sizes alike.
        times: dict[int, list[float]] = {events: [] for events in sizes}
        for _ in range(args.runs):
            for events in sizes:
                times[events].append(noop(built[events][0]))
        db_time: dict[int, list[tuple[float, float]]] = {events: [] for events in sizes}
        for _ in range(args.runs):
            for events in sizes:
                db_time[events].append(database_time(cluster, built[events][0]))
        refresh = {events: refreshes(built[events][0]) for events in sizes}
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
    baseline = statistics.median(times[sizes[0]])
    print(f"no-op deploy (migrate's planned apply, {args.runs} rounds; baseline {sizes[0]:,} events)")
    print("  every no-op ran no metrics_daily refresh (asserted from each result's post-commit steps)")
    for events, samples in times.items():
        median = statistics.median(samples)
        per_round = statistics.median(s / b for s, b in zip(samples, times[sizes[0]], strict=True))
        runs = ", ".join(f"{s:.3f}" for s in samples)
        print(
            f"  {events:>10,} events: median {median:6.3f} s  ratio {median / baseline:5.2f}x  "
            f"(median of per-round ratios {per_round:.2f}x; runs: {runs})"
        )
    print("database time of a no-op deploy (pg_stat_statements: planning + execution)")
    target0 = statistics.median(t for t, _ in db_time[sizes[0]])
    server0 = statistics.median(s for _, s in db_time[sizes[0]])
    for events, pairs in db_time.items():
        target = statistics.median(t for t, _ in pairs)
        server = statistics.median(s for _, s in pairs)
        print(
            f"  {events:>10,} events: target database {target:6.3f} s ({target / target0:5.2f}x), "
            f"whole server {server:6.3f} s ({server / server0:5.2f}x)"
        )
    print("metrics_daily's own refreshes (the refresh-metrics schedule's job, never a deploy's)")
    for events, (_, seeded, backfill) in built.items():
        windowed, full = refresh[events]
        print(
            f"  {events:>10,} events: seed {seeded:7.1f} s, first backfill {backfill:6.2f} s, "
            f"windowed refresh ({DEFAULT_WINDOW}) {windowed:6.3f} s, full rebuild {full:6.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
