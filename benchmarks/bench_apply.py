"""Benchmark: apply_master_schema on a fresh database vs `psql -v ON_ERROR_STOP=1 -f` of the same file.

Run by hand: `.venv/bin/python benchmarks/bench_apply.py [--runs N] [--flow]`. Starts its own
throwaway PostgreSQL 15 + TimescaleDB cluster; each run creates two fresh databases and times, in
the same run, schemaflow's apply (lock, snapshots, one transaction, history row, post-commit refresh)
and plain psql on the other; then the re-apply (no-op) on the first. It also times the file alone in
one transaction on two more fresh databases, sent as one string (how apply ran it before) and
statement by statement (how apply runs it now, so every error names its line), and prints the ratio;
and a no-op deploy of the now-populated first database through migrate's apply (plan, execute
nothing, plan again: db/run/plan_apply.py) against the old whole-file re-run.
`--flow` also times one run of the migrate flow (Prefect's temporary server included) on a third
fresh database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql

from db.connection.urls import libpq_subprocess_args
from db.deploy.apply import apply_master_schema
from db.local.cluster import PG_BIN, LocalCluster, free_port
from db.run.plan_apply import apply_schema
from db.schema.master_file import MASTER_SCHEMA
from db.schema.statements import split_file


def fresh_database(cluster: LocalCluster) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.url(name)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def psql_apply(url: str) -> None:
    conninfo, secret = libpq_subprocess_args(url)  # the password stays out of ps
    cmd = [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(MASTER_SCHEMA)]
    subprocess.run([*cmd, "-d", conninfo], check=True, capture_output=True, env={**os.environ, **secret})


def one_transaction(url: str, by_statement: bool) -> None:
    """The master file alone in one transaction: one string, or each statement in turn."""
    text = MASTER_SCHEMA.read_text()
    with psycopg.connect(url) as conn, conn.transaction():
        if by_statement:
            for statement in split_file(text):
                conn.execute(statement.text)  # type: ignore[arg-type]
        else:
            conn.execute(text)  # type: ignore[arg-type]


def migrate_apply(url: str) -> None:
    """What migrate's apply task does for a populated database: plan, execute, prove."""
    apply_schema(url, MASTER_SCHEMA.read_text(), environment="bench", lock_timeout="1s",
                 statement_timeout="5min", lock_retries=3)  # fmt: skip


def flow_run(url: str) -> float:
    env_file = Path(tempfile.mkdtemp(prefix="schemaflow-bench-env-")) / "environments.toml"
    env_file.write_text(
        '[environments.bench]\nrequire_backup = false\nallow_insecure = true\ntimescaledb = "preferred"\n'
        f'report_log = "{env_file.parent}/bench.log"\n'
    )
    env = {**os.environ, "SCHEMAFLOW_ENVIRONMENTS": str(env_file), "DATABASE_URL": url,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    exe = Path(sys.executable).with_name("schemaflow")
    started = time.perf_counter()
    subprocess.run([str(exe), "migrate", "--env", "bench", "--skip-expectations"], check=True, env=env,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flow", action="store_true", help="also time the CLI + migrate flow once")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-apply-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        fresh, raw, again, whole, split, planned = [], [], [], [], [], []
        for _ in range(args.runs):
            ours, theirs = fresh_database(cluster), fresh_database(cluster)
            fresh.append(timed(lambda u=ours: apply_master_schema(u, environment="bench")))  # type: ignore[misc]
            raw.append(timed(lambda u=theirs: psql_apply(u)))  # type: ignore[misc]
            again.append(timed(lambda u=ours: apply_master_schema(u, environment="bench")))  # type: ignore[misc]
            planned.append(timed(lambda u=ours: migrate_apply(u)))  # type: ignore[misc]
            one, each = fresh_database(cluster), fresh_database(cluster)
            whole.append(timed(lambda u=one: one_transaction(u, by_statement=False)))  # type: ignore[misc]
            split.append(timed(lambda u=each: one_transaction(u, by_statement=True)))  # type: ignore[misc]

        def show(label: str, samples: list[float]) -> float:
            median = statistics.median(samples)
            print(f"  {label:<46} median {median:6.3f} s  (runs: {', '.join(f'{s:.3f}' for s in samples)})")
            return median

        print(f"master schema apply on fresh databases ({args.runs} runs, {MASTER_SCHEMA.name})")
        ours_s = show("apply_master_schema (fresh database)", fresh)
        raw_s = show("psql -v ON_ERROR_STOP=1 -f (fresh database)", raw)
        again_s = show("apply_master_schema re-run (no changes)", again)
        planned_s = show("migrate's apply, no-op (an empty plan)", planned)
        print(f"  ratio planned no-op / whole-file re-run: {planned_s / again_s:.2f}x")
        print(f"  ratio apply_master_schema / psql: {ours_s / raw_s:.2f}x")
        count = len(split_file(MASTER_SCHEMA.read_text()))
        whole_s = show("file in one transaction, one string", whole)
        split_s = show(f"file in one transaction, {count} statements", split)
        print(f"  ratio statement by statement / one string: {split_s / whole_s:.2f}x")
        if args.flow:
            print(f"  schemaflow migrate (CLI + flow, temporary Prefect server, fresh db): "
                  f"{flow_run(fresh_database(cluster)):.1f} s")  # fmt: skip
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
