"""Benchmark: backup_database (directory format, -Z1, parallel) vs plain `pg_dump -Fc` on ~1M events.

Run by hand: `.venv/bin/python benchmarks/bench_backup.py [--events 1000000] [--runs 3] [--variants]`.
Starts its own throwaway PostgreSQL 15 + TimescaleDB cluster, applies the master schema and seeds it
with db.local.seed.seed_data (or, without that module, generate_series rows in a listener_events
hypertable), then alternates the two dumps in the same run and prints medians, sizes and the ratio.
`--variants` also times the other formats/levels the choice in db/backup/dump.py was made from.

`--pitr [--scales 1000000,5000000]`: the two backup strategies (environments.toml `backup`) side by
side at each scale, on one cluster archiving WAL to a local pgBackRest repository: backup_database
(pg_dump) vs take_restore_point (what `backup = "pgbackrest"` does before apply). Prints medians, the
pg_dump / restore-point ratio per scale, and how each grows from the smallest scale to the largest.
The base backup pgBackRest needs (once a day, not per deploy) is timed too, for scale.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from db.backup.dump import backup_database
from db.connection.environments import get_environment
from db.connection.urls import libpq_subprocess_args
from db.local.cluster import PG_BIN, LocalCluster, free_port

FALLBACK_SEED_SQL = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE listener_events (
    event_id uuid NOT NULL DEFAULT gen_random_uuid(), event_time timestamptz NOT NULL,
    tenant_id uuid NOT NULL, episode_id uuid NOT NULL, listener_id text NOT NULL,
    event_type text NOT NULL, position_seconds integer NOT NULL, platform text,
    PRIMARY KEY (event_id, event_time));
SELECT create_hypertable('listener_events', 'event_time', chunk_time_interval => interval '1 day');
INSERT INTO listener_events
    (event_time, tenant_id, episode_id, listener_id, event_type, position_seconds, platform)
SELECT now() - (i % 30) * interval '1 day' - (i % 86400) * interval '1 second',
       md5((i % 10)::text)::uuid, md5((i % 2000)::text)::uuid, md5((i % 50000)::text),
       (ARRAY['play','pause','resume','seek','complete','skip','download'])[1 + i % 7], i % 3600,
       (ARRAY['ios','android','web'])[1 + i % 3]
FROM generate_series(1, %(events)s) AS i;
"""
VARIANTS = {
    "-Fc default (Z6)": ["-Fc"],
    "-Fc -Z0": ["-Fc", "-Z0"],
    "-Fc -Z1": ["-Fc", "-Z1"],
    "-Fd -j1 -Z1": ["-Fd", "-j1", "-Z1"],
    "-Fd -j2 -Z1": ["-Fd", "-j2", "-Z1"],
    "-Fd -j2 -Z0": ["-Fd", "-j2", "-Z0"],
}


def seed(url: str, events: int) -> str:
    try:
        from db.deploy.apply import apply_master_schema
        from db.local.seed import seed_data
    except ImportError:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FALLBACK_SEED_SQL.replace("%(events)s", str(int(events))))
        return f"generate_series: {events} listener_events rows"
    apply_master_schema(url, environment="bench", record_history=False)
    with psycopg.connect(url) as conn:
        rows = seed_data(conn, events=events)
        conn.commit()
    events = rows.get("listener_events", 0)
    return f"db.local.seed.seed_data: {sum(rows.values())} rows ({events} listener_events)"


def raw_dump(url: str, args: list[str], target: Path) -> float:
    conninfo, secret = libpq_subprocess_args(url)  # the password stays out of ps, as in backup_database
    cmd = [str(PG_BIN / "pg_dump"), *args, "-f", str(target), "-d", conninfo]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, **secret})
    return time.perf_counter() - started


def size(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if path.is_dir()
        else path.stat().st_size
    )


POINTS_PER_RUN = 5


def bench_pitr(scales: list[int], runs: int) -> None:
    """pg_dump vs a pgBackRest restore point, at each number of seeded events."""
    from db.backup.pgbackrest import configure_local_repository, take_restore_point
    from db.local.seed import seed_database
    from db.schema.master_file import read_schema

    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-pitr-"))
    base.chmod(0o755)
    port = free_port()
    repo = configure_local_repository(base / "pgbackrest", base / "pgdata", port, "bench")
    cluster = LocalCluster(datadir=base / "pgdata", port=port, archive_command=repo.archive_command())
    medians: dict[int, tuple[float, float]] = {}
    try:
        cluster.start()
        repo.stanza_create()
        env = dataclasses.replace(
            get_environment("local"), name="bench", backup_dir=base / "backups", backup="pgbackrest",
            pgbackrest_stanza=repo.stanza, pgbackrest_config=repo.config,
        )  # fmt: skip
        for events in scales:
            name = f"bench_{events}"
            with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = cluster.url(name)
            started = time.perf_counter()
            with psycopg.connect(url) as conn:
                conn.execute("SET client_min_messages = warning")
                conn.execute(read_schema())
            seed_database(url, tenants=10, events=events, days=30, seed=1)
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
            seeded = time.perf_counter() - started
            print(f"{events:>9} events: seeded in {seeded:.1f} s, database {row[0] if row else '?'}")
            started = time.perf_counter()
            repo.backup("full")
            print(f"  pgBackRest full base backup (once per max_backup_age, not per deploy): "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            dumps: list[float] = []
            points: list[float] = []
            for _ in range(runs):  # alternating, so load changes hit both alike
                result = backup_database(url, env)
                dumps.append(result.seconds)
                shutil.rmtree(result.path)
                # The dump's own writes are still being flushed; a restore point's WAL fsync would
                # queue behind them and be charged for the dump's I/O.
                os.sync()
                for _ in range(POINTS_PER_RUN):
                    started = time.perf_counter()
                    take_restore_point(url, env)
                    points.append(time.perf_counter() - started)
            medians[events] = (statistics.median(dumps), statistics.median(points))
            print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
                  f"{len(dumps)} dumps, {len(points)} restore points "
                  "(each: connect, create, switch WAL)")  # fmt: skip
            print(f"  pg_dump (backup_database) median {medians[events][0]:7.3f} s   "
                  f"restore point median {medians[events][1]:7.3f} s   "
                  f"ratio {medians[events][0] / medians[events][1]:.0f}x")  # fmt: skip
        low, high = min(medians), max(medians)
        if low != high:
            print(f"from {low} to {high} events: pg_dump {medians[high][0] / medians[low][0]:.2f}x, "
                  f"restore point {medians[high][1] / medians[low][1]:.2f}x")  # fmt: skip
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="also time the other pg_dump formats")
    parser.add_argument("--pitr", action="store_true", help="pg_dump vs pgBackRest restore point")
    parser.add_argument("--scales", default="1000000,5000000", help="--pitr: event counts, comma-separated")
    args = parser.parse_args()
    if args.pitr:
        bench_pitr([int(n) for n in args.scales.split(",")], args.runs)
        return

    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-backup-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port())
    try:
        cluster.start()
        cluster.ensure_database()
        url = cluster.url()
        started = time.perf_counter()
        print(f"seeded with {seed(url, args.events)} in {time.perf_counter() - started:.1f} s")
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        print(
            f"database size {row[0] if row else '?'}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}"
        )

        env = dataclasses.replace(get_environment("local"), backup_dir=base / "backups")
        ours: list[float] = []
        plain: list[float] = []
        variants: dict[str, list[float]] = {name: [] for name in VARIANTS} if args.variants else {}
        sizes: dict[str, int] = {}
        for run in range(args.runs):
            result = backup_database(url, env)
            ours.append(result.seconds)
            sizes["backup_database"] = result.size_bytes
            shutil.rmtree(result.path)
            target = base / f"plain-{run}.dump"
            plain.append(raw_dump(url, ["-Fc"], target))
            sizes["pg_dump -Fc"] = size(target)
            target.unlink()
            for name, extra in VARIANTS.items() if args.variants else ():
                target = base / f"variant-{run}"
                variants[name].append(raw_dump(url, extra, target))
                sizes[name] = size(target)
                shutil.rmtree(target) if target.is_dir() else target.unlink()

        def line(name: str, times: list[float]) -> str:
            return (f"  {name:24} median {statistics.median(times):6.2f} s  best {min(times):6.2f} s  "
                    f"{sizes[name] / 1e6:7.1f} MB")  # fmt: skip

        print(f"{args.runs} runs each, alternating:")
        print(line("backup_database", ours))
        print(line("pg_dump -Fc", plain))
        for name, times in variants.items():
            print(line(name, times))
        ratio = statistics.median(plain) / statistics.median(ours)
        print(f"backup_database is {ratio:.2f}x the speed of pg_dump -Fc (median), "
              f"{sizes['backup_database'] / sizes['pg_dump -Fc']:.2f}x its size")  # fmt: skip
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
