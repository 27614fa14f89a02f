"""Benchmark: the drift check on the full master schema vs `pg_dump --schema-only` of the same database.

Run by hand: `.venv/bin/python benchmarks/bench_drift.py [--runs N]`. Starts its own throwaway
PostgreSQL 15 + TimescaleDB cluster, migrates a database from the master file, then times (median of
N runs) the catalog snapshot alone, the whole drift check (scratch database created, the file applied,
snapshotted, dropped, diffed) and, as the baseline measured in the same run, `pg_dump --schema-only`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from db.catalog.drift import check_drift
from db.catalog.snapshot import snapshot_catalog
from db.connection.urls import libpq_subprocess_args
from db.deploy.apply import apply_master_schema
from db.local.cluster import PG_BIN, LocalCluster, free_port


def timed(label: str, runs: int, fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples)
    print(f"  {label:<44} median {median:7.3f} s  (runs: {', '.join(f'{s:.3f}' for s in samples)})")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-drift-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        cluster.ensure_database()
        url = cluster.url()
        apply_master_schema(url, environment="bench")
        pg_dump = str(PG_BIN / "pg_dump")
        print(f"drift check vs pg_dump --schema-only on the full master schema ({args.runs} runs each)")

        def snapshot() -> None:
            with psycopg.connect(url) as conn:
                snapshot_catalog(conn)

        conninfo, secret = libpq_subprocess_args(url)  # the password stays out of ps
        dump_env = {**os.environ, **secret}

        def dump() -> None:
            subprocess.run([pg_dump, "--schema-only", "--dbname", conninfo], check=True, env=dump_env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

        def drift() -> None:
            report = check_drift(url)
            assert not report.has_drift, report.rows()

        baseline = timed("pg_dump --schema-only (baseline)", args.runs, dump)
        snap = timed("snapshot_catalog (connect + snapshot)", args.runs, snapshot)
        total = timed("check_drift (scratch db + apply + diff)", args.runs, drift)
        print(f"snapshot / pg_dump ratio:    {snap / baseline:.2f}x")
        print(f"drift check / pg_dump ratio: {total / baseline:.2f}x")
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
