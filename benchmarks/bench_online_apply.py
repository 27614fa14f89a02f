"""Benchmark: insert latency into listener_events while the executor makes three online changes.

Run by hand: `.venv/bin/python benchmarks/bench_online_apply.py [--events 1000000] [--rate 25]`.
Starts its own throwaway PostgreSQL 15 + TimescaleDB cluster, applies the master file, seeds
`--events` listener events, then measures, under the same steady insert load, in the same run:

1. baseline: the load alone, no deploy;
2. the executor: a hypertable index built per chunk, an index on a plain table CONCURRENTLY and a new
   foreign key NOT VALID then VALIDATE (tests/support/online_plan.py);
3. for contrast, the same three changes the old whole-file way: plain CREATE INDEX and a validating
   ADD FOREIGN KEY inside one transaction.

It prints max and p99 insert latency for each, and their ratio to the baseline.
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
from db.deploy.execute import execute_plan
from db.local.cluster import LocalCluster, free_port
from db.local.seed import seed_database
from tests.support.insert_load import InsertLoad, LoadReport
from tests.support.online_plan import FOREIGN_KEY, drop_online_changes_sql, online_plan

LOCK_TIMEOUT = "1s"
OLD_WAY_SQL = [
    "CREATE INDEX IF NOT EXISTS idx_listener_events_listener_id ON public.listener_events (listener_id)",
    "CREATE INDEX IF NOT EXISTS idx_episodes_title ON public.episodes (title)",
    f"ALTER TABLE public.listener_events ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (tenant_id, episode_id) "
    "REFERENCES public.episodes (tenant_id, id)",
]


def under_load(url: str, rate: float, work, settle: float = 1.0) -> tuple[LoadReport, float]:  # type: ignore[no-untyped-def]
    """Run `work()` while the insert load runs (from `settle` s before to `settle` s after)."""
    with InsertLoad(url, rate) as load:
        time.sleep(settle)
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        time.sleep(settle)
    return load.report, seconds


def undo(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in drop_online_changes_sql():
            conn.execute(statement)  # type: ignore[arg-type]


def old_way(url: str) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        for statement in OLD_WAY_SQL:
            conn.execute(statement)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=25.0, help="inserts per second")
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-online-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = cluster.url(name)
        apply_master_schema(url, environment="bench", record_history=False)
        clock = time.perf_counter()
        seed_database(url, tenants=5, events=args.events, days=30, workers=2)
        print(f"seeded {args.events:,} listener events in {time.perf_counter() - clock:.1f} s")

        baseline, _ = under_load(url, args.rate, lambda: time.sleep(args.baseline_seconds))
        steps: list = []

        def online() -> None:
            result = execute_plan(url, online_plan(), environment="bench", lock_timeout=LOCK_TIMEOUT,
                                  allow_hazards=["validates_data"])  # fmt: skip
            steps.extend(result.steps)

        executor, executor_s = under_load(url, args.rate, online)
        undo(url)
        blocking, blocking_s = under_load(url, args.rate, lambda: old_way(url))

        print(f"insert load {args.rate:.0f}/s into listener_events; lock_timeout {LOCK_TIMEOUT}")
        rows = [
            ("baseline: no deploy", baseline, None),
            ("executor: online plan", executor, executor_s),
            ("old way: one transaction", blocking, blocking_s),
        ]
        for label, report, seconds in rows:
            took = f"; deploy {seconds:.2f} s" if seconds is not None else ""
            ratio_p99 = report.p99_latency / baseline.p99_latency if baseline.p99_latency else float("nan")
            ratio_max = report.max_latency / baseline.max_latency if baseline.max_latency else float("nan")
            print(f"  {label:<26} {report.summary()}{took}")
            print(f"  {'':<26} vs baseline: p99 {ratio_p99:.2f}x, max {ratio_max:.2f}x")
        for step in steps:
            print(f"    step {step.number} {step.status}: {step.seconds:.3f} s, lock wait "
                  f"{step.lock_wait_seconds:.3f} s: {' '.join(step.sql.split())[:90]}")  # fmt: skip
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
