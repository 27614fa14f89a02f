"""Benchmark: `seed-data` with 1,000,000 listener events vs a hand-written bulk INSERT of as many rows.

Run by hand: `.venv/bin/python benchmarks/bench_seed.py [--events N]`. Starts its own throwaway
PostgreSQL 15 + TimescaleDB cluster and two fresh databases with the master schema. The baseline is
one INSERT ... SELECT generate_series of the same number of events into the same hypertable, with
none of seed-data's realism (no tenants' own episodes, positions within episode length, sessions,
attribution events): the ratio is the price of data that passes every invariant.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql

from db.local.cluster import LocalCluster, free_port
from db.local.seed import seed_database
from db.schema.master_file import read_schema

BASELINE_SQL = """
INSERT INTO listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id, event_type,
                             position_seconds, duration_seconds)
SELECT now() - (i %% (30 * 86400)) * interval '1 second', t.id, p.id, e.id, 'l' || (i %% 50000),
       'play', i %% 1800, i %% 60
FROM generate_series(1, %(events)s) AS i,
     LATERAL (SELECT id FROM tenants LIMIT 1) t,
     LATERAL (SELECT id FROM podcasts WHERE tenant_id = t.id LIMIT 1) p,
     LATERAL (SELECT id FROM episodes WHERE podcast_id = p.id LIMIT 1) e
"""


def migrated_database(cluster: LocalCluster) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = cluster.url(name)
    with psycopg.connect(url) as conn:
        conn.execute(read_schema())
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-seed-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port())
    cluster.start()
    try:
        ours_url, baseline_url = migrated_database(cluster), migrated_database(cluster)
        # The baseline needs one tenant/podcast/episode to point at: the smallest real seed.
        seed_database(baseline_url, tenants=1, events=10, days=1, seed=2, workers=1)
        load = os.getloadavg()[0]
        report = seed_database(ours_url, tenants=10, events=args.events, days=30, seed=1, workers=2)
        started = time.perf_counter()
        with psycopg.connect(baseline_url) as conn:
            conn.execute(BASELINE_SQL, {"events": args.events})
        baseline = time.perf_counter() - started
        print(
            f"seed-data {args.events:,} listener events (+ attribution events, 2 workers): "
            f"{report.elapsed:.1f} s; hand-written bulk INSERT of {args.events:,}: {baseline:.1f} s; "
            f"ratio {report.elapsed / baseline:.2f}x (load average {load:.1f} on {os.cpu_count()} cores)"
        )
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
