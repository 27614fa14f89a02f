"""Benchmark: the plan of a change (`plan --from-file BASE --to-file HEAD`) against planning a live database.

Run by hand: `.venv/bin/python benchmarks/bench_plan_change.py [--runs N]`. Starts its own throwaway
PostgreSQL 15 + TimescaleDB cluster; BASE is the master file, HEAD the pull-request tests' fixture
change (tests/cli/change_fixture.py, without its one-off). Times, median of N runs:
- baseline: `plan_database` against a database already built from BASE (what `plan --env` costs);
- the same work by hand: create a database, apply BASE, `plan_database`, drop the database;
- `plan_change` end to end (two throwaway databases, BASE applied, HEAD built, planned, dropped).
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
from psycopg import sql

from benchmarks.support import throwaway_cluster
from db.deploy.apply import apply_master_schema
from db.plan.database import plan_database
from db.run.change_plan import Side, plan_change
from db.schema.master_file import read_schema
from tests.cli.change_fixture import head_text


def _median(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        clock = time.perf_counter()
        work()
        times.append(time.perf_counter() - clock)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    base, head = read_schema(), head_text()
    with throwaway_cluster("plan-change") as cluster:
        admin = cluster.url("postgres")
        apply_master_schema(cluster.url(), base, environment="bench", record_history=False)

        def by_hand() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench_by_hand TEMPLATE template0")
            try:
                apply_master_schema(cluster.url("bench_by_hand"), base, environment="bench")
                plan_database(cluster.url("bench_by_hand"), head)
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP DATABASE bench_by_hand WITH (FORCE)"))

        live = _median(runs, lambda: plan_database(cluster.url(), head))
        hand = _median(runs, by_hand)
        change = _median(runs, lambda: plan_change(Side("base", base), Side("head", head), scratch_url=admin))
    print(f"plan_database on a database built from BASE (baseline): {live:.2f} s")
    print(f"by hand: create, apply BASE, plan_database, drop:       {hand:.2f} s ({hand / live:.2f}x)")
    print(f"plan_change (both sides built, dropped):                {change:.2f} s ({change / live:.2f}x, "
          f"{change / hand:.2f}x of by hand)")  # fmt: skip


if __name__ == "__main__":
    main()
