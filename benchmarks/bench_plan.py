"""Benchmark: planning the full master schema against a migrated database, vs `pg_dump --schema-only`.

Run by hand: `.venv/bin/python benchmarks/bench_plan.py [--runs N]`. Starts its own throwaway
PostgreSQL 15 + TimescaleDB cluster, migrates a database from the master file, then times (median of
N runs):
- the scratch apply: the master file applied to the reused scratch database, snapshotted, rolled back;
- `plan_database` end to end (both snapshots, sizes, the scratch apply, planning);
- what planning costs on top of the scratch apply (end to end minus scratch apply; target < 1 s);
- the pure planner (`plan_changes` on the two snapshots) alone, on the clean database and on one with
  a handful of hand changes;
and, as the baseline measured in the same run, `pg_dump --schema-only` of the same database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from benchmarks.support import throwaway_cluster
from db.catalog.drift import compare_sides
from db.connection.urls import libpq_subprocess_args
from db.deploy.apply import apply_master_schema
from db.local.cluster import PG_BIN
from db.plan.planner import plan_changes
from db.schema.master_file import read_schema

HAND_CHANGES = """
ALTER TABLE audit_log ALTER COLUMN id SET INCREMENT BY 10;
COMMENT ON TABLE plans IS 'edited by hand';
CREATE RULE audit_discard AS ON INSERT TO audit_log DO INSTEAD NOTHING;
ALTER TABLE tenants ALTER COLUMN name TYPE varchar(200);
DROP INDEX idx_users_email;
ALTER VIEW tenant_metrics_daily RESET (security_barrier);
"""


def timed(label: str, runs: int, fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples)
    print(f"  {label:<52} median {median:7.3f} s  (runs: {', '.join(f'{s:.3f}' for s in samples)})")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with throwaway_cluster("plan") as cluster:
        url = cluster.url()
        text = read_schema()
        apply_master_schema(url, text, environment="bench")
        conninfo, secret = libpq_subprocess_args(url)  # the password stays out of ps
        dump_env = {**os.environ, **secret}
        print(f"plan of the full master schema vs pg_dump --schema-only ({args.runs} runs each)")

        def dump() -> None:
            subprocess.run([str(PG_BIN / "pg_dump"), "--schema-only", "--dbname", conninfo], check=True,
                           env=dump_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

        stages: dict[str, list[float]] = {}

        def plan() -> None:
            started = time.perf_counter()
            sides = compare_sides(url, schema_sql=text)
            middle = time.perf_counter()
            result = plan_changes(sides.expected, sides.actual, migrating_role=sides.migrating_role,
                                  sizes=sides.sizes)  # fmt: skip
            done = time.perf_counter()
            assert result.is_empty, [s.sql for s in result.steps]
            t = sides.timings
            scratch = t["scratch database (apply, snapshot, roll back)"]
            for label, seconds in (
                ("scratch apply (master file, snapshot, roll back)", scratch),
                ("live snapshot + sizes", t["live snapshot and sizes"]),
                ("plan_changes (pure planner)", done - middle),
                ("on top of the scratch apply", (done - started) - scratch),
            ):
                stages.setdefault(label, []).append(seconds)

        baseline = timed("pg_dump --schema-only (baseline)", args.runs, dump)
        total = timed("plan_database (end to end)", args.runs, plan)
        for label, samples in stages.items():
            print(f"    {label:<50} median {statistics.median(samples):7.3f} s")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(HAND_CHANGES)  # type: ignore[arg-type]
        changed = compare_sides(url, schema_sql=text)
        steps = len(plan_changes(changed.expected, changed.actual, sizes=changed.sizes).steps)
        drifted = timed(
            f"plan_changes alone (6 hand changes, {steps} steps)",
            args.runs,
            lambda: plan_changes(changed.expected, changed.actual, sizes=changed.sizes),
        )
        on_top = statistics.median(stages["on top of the scratch apply"])
        scratch = statistics.median(stages["scratch apply (master file, snapshot, roll back)"])
        print(f"planning on top of the scratch apply: {on_top:.3f} s (target < 1 s)")
        print(f"scratch apply: {scratch:.3f} s")
        print(f"pure planner with changes: {drifted * 1000:.1f} ms")
        print(f"on top / pg_dump --schema-only: {on_top / baseline:.2f}x; end to end / pg_dump: "
              f"{total / baseline:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
