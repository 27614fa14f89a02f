"""Benchmark: the GX suites on a large listener_events table, recent window vs --full, and the health checks.

Run by hand: `.venv/bin/python benchmarks/bench_gx.py [--events 1000000] [--days 30] [--database-url URL]`.
Without --database-url it starts its own throwaway PostgreSQL 15 + TimescaleDB (Apache) cluster,
migrates a database from the master file and seeds it; with one it uses that (already seeded) database.
Prints: seconds for the health checks, the GX import, the suites with the default 7-day window, and
the suites over every row (--full). Measures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from db.connection.urls import mask_url
from db.deploy.health import run_health_checks
from db.local.cluster import LocalCluster, free_port
from db.local.seed import refresh_metrics_daily, seed_data
from db.schema.master_file import read_schema


def prepare(url: str, events: int, days: int) -> None:
    """Apply the master file and seed `events` listener events over `days` days."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute(read_schema())
    with psycopg.connect(url) as conn:
        seed_data(conn, tenants=10, events=events, days=days, seed=1)
    with psycopg.connect(url, autocommit=True) as conn:
        refresh_metrics_daily(conn)
        conn.execute("VACUUM ANALYZE")
    print(f"  prepared {events:,} events over {days} days in {time.perf_counter() - started:.1f} s")


def measure(url: str, window_days: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        checks = run_health_checks(conn)
        health = time.perf_counter() - started
        events = conn.execute("SELECT count(*) FROM listener_events").fetchone()[0]  # type: ignore[index]
    print(f"  listener_events rows: {events:,}")
    print(f"  health checks: {health:.3f} s ({sum(c.ok for c in checks)}/{len(checks)} passed)")
    started = time.perf_counter()
    import great_expectations  # noqa: F401  (timed separately: it is paid once per process)

    print(f"  import great_expectations: {time.perf_counter() - started:.1f} s")
    from expectations.runner import run_suites

    docs = Path(tempfile.mkdtemp(prefix="schemaflow-bench-gx-docs-"))
    for label, full in (
        (f"window {window_days} days", False),
        ("--full", True),
        (f"window {window_days} days", False),
    ):
        report = run_suites(url, window_days=window_days, full=full, data_docs_dir=docs)
        failed = len(report.failed_rows())
        print(
            f"  GX suites, {label:<16} {report.seconds:6.1f} s  ({len(report.rows)} expectations, "
            f"{failed} failed, Data Docs included)"
        )
    report = run_suites(url, window_days=window_days, build_docs=False)
    print(f"  GX suites, window {window_days} days, no Data Docs: {report.seconds:.1f} s")
    shutil.rmtree(docs, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--window-days", type=int, default=7)
    parser.add_argument("--database-url", help="an already migrated and seeded database to measure")
    args = parser.parse_args()
    if args.database_url:
        print(f"GX benchmark on {mask_url(args.database_url)}")
        measure(args.database_url, args.window_days)
        return 0
    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-gx-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        cluster.ensure_database()
        url = cluster.url()
        print(f"GX benchmark: {args.events:,} events, throwaway cluster on port {cluster.port}")
        prepare(url, args.events, args.days)
        measure(url, args.window_days)
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
