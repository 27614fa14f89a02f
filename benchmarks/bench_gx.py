"""Benchmark: the GX suites against hand-written SQL of the same invariants, on the recent window.

Run by hand: `.venv/bin/python benchmarks/bench_gx.py [--events 1000000] [--days 6] [--database-url URL]`.
Without --database-url it starts its own throwaway PostgreSQL 15 + TimescaleDB (Apache) cluster,
migrates a database from the master file and seeds `--events` events over the last `--days` days (so
all of them fall in the default 7-day window); with one it measures that (already seeded) database,
which is how the 5M figure is taken without seeding twice.

Prints, each against this run's own baseline: the GX import, the fixed cost (the suites on an empty
database), then per round the hand-written SQL (one query per batch, every invariant the suites
check) and the GX suites, with and without Data Docs, and their ratio. Measures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from db.connection.urls import mask_url
from db.local.cluster import LocalCluster, free_port
from db.local.seed import refresh_metrics_daily, seed_database
from db.schema.expected import METRICS_DAILY_COLUMNS, expected_schema
from db.schema.master_file import read_schema

SKEW = "interval '5 minutes'"
# The hand-written baseline: per batch one query that counts the offenders of every invariant the
# suites check (NOT NULL columns and value sets from the master file, non-negative amounts, unique
# event ids, nothing in the future, the cross-table rules; metrics_daily's key, counts, totals and
# freshness; the catalog's tables, columns and hypertables).
LISTENER_SQL = """
SELECT {not_null}, count(*) FILTER (WHERE e.event_type NOT IN ({event_types})),
       count(*) FILTER (WHERE e.position_seconds < 0), count(*) FILTER (WHERE e.duration_seconds < 0),
       count(e.event_id) - count(DISTINCT e.event_id),
       count(*) FILTER (WHERE e.event_time > now() + {skew}),
       count(*) FILTER (WHERE ep.tenant_id <> e.tenant_id),
       count(*) FILTER (WHERE ep.podcast_id <> e.podcast_id),
       count(*) FILTER (WHERE e.position_seconds > ep.duration_seconds
                           OR e.duration_seconds > ep.duration_seconds)
FROM public.listener_events AS e LEFT JOIN public.episodes AS ep ON ep.id = e.episode_id
WHERE e.event_time > now() - interval '{days} days'
"""
ATTRIBUTION_SQL = """
SELECT {not_null}, count(*) FILTER (WHERE e.event_type NOT IN ({event_types})),
       count(*) FILTER (WHERE e.revenue_cents < 0), count(e.event_id) - count(DISTINCT e.event_id),
       count(*) FILTER (WHERE e.event_time > now() + {skew}),
       count(*) FILTER (WHERE c.id IS NULL),
       count(*) FILTER (WHERE c.tenant_id <> e.tenant_id),
       count(*) FILTER (WHERE (e.event_time AT TIME ZONE 'UTC')::date NOT BETWEEN c.starts_on AND c.ends_on)
FROM public.attribution_events AS e LEFT JOIN public.campaigns AS c ON c.id = e.campaign_id
WHERE e.event_time > now() - interval '{days} days'
"""
METRICS_SQL = """
WITH bounds AS (
    SELECT date_trunc('day', now() - interval '{days} days', 'UTC') AS start,
           least(date_trunc('day', now() - interval '1 day', 'UTC'),
                 (SELECT max(day) FROM public.metrics_daily)) AS cutoff
), m AS (SELECT * FROM public.metrics_daily WHERE day >= (SELECT start FROM bounds)),
raw AS (
    SELECT date_trunc('day', e.event_time, 'UTC') AS day, e.tenant_id, e.podcast_id, e.episode_id,
           count(*) AS events, count(*) FILTER (WHERE e.event_type = 'play') AS plays,
           count(*) FILTER (WHERE e.event_type = 'complete') AS completes,
           sum(e.duration_seconds)::bigint AS listened_seconds, max(e.event_time) AS newest
    FROM public.listener_events AS e
    WHERE e.event_time >= (SELECT start FROM bounds)
    GROUP BY 1, 2, 3, 4
)
SELECT (SELECT count(*) - count(DISTINCT (tenant_id, podcast_id, episode_id, day)) FROM m),
       (SELECT count(*) FILTER (WHERE events < 0 OR plays < 0 OR completes < 0 OR listened_seconds < 0)
        FROM m),
       (SELECT count(*) FROM (SELECT * FROM m WHERE day < (SELECT cutoff FROM bounds)) AS a
        FULL JOIN (SELECT * FROM raw WHERE day < (SELECT cutoff FROM bounds)) AS r
          USING (day, tenant_id, podcast_id, episode_id)
        WHERE (a.events, a.plays, a.completes, a.listened_seconds)
              IS DISTINCT FROM (r.events, r.plays, r.completes, r.listened_seconds)),
       (SELECT max(day) FROM m)
           < date_trunc('day', (SELECT max(newest) FROM raw WHERE newest <= now()), 'UTC') - interval '1 day'
"""
CATALOG_SQL = """
WITH expected(table_name, column_name) AS (VALUES {columns}),
present AS (
    SELECT c.relname::text AS table_name, a.attname::text AS column_name
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
)
SELECT (SELECT count(DISTINCT table_name) FROM expected
        WHERE table_name NOT IN (SELECT table_name FROM present)),
       (SELECT count(*) FROM expected e FULL JOIN (SELECT * FROM present
            WHERE table_name IN (SELECT table_name FROM expected)) p USING (table_name, column_name)
        WHERE (e.column_name IS NULL) <> (p.column_name IS NULL)),
       (SELECT count(*) FROM (VALUES {hypertables}) AS h(table_name, column_name, chunk)
        LEFT JOIN timescaledb_information.dimensions d
               ON d.hypertable_schema = 'public' AND d.hypertable_name = h.table_name
              AND d.dimension_number = 1
        WHERE d.column_name IS DISTINCT FROM h.column_name OR d.time_interval IS DISTINCT FROM h.chunk)
"""


def hand_queries(window_days: int) -> list[str]:
    """The baseline's statements, with the master file's rules filled in."""
    expected = expected_schema()

    def literal(value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    def not_null(table: str) -> str:
        columns = [c.name for c in expected.tables[table].columns if c.not_null]
        return ", ".join(f"count(*) FILTER (WHERE e.{c} IS NULL)" for c in columns)

    def event_types(table: str) -> str:
        return ", ".join(literal(v) for v in expected.value_sets[(table, "event_type")])

    tables = {name: t.column_names for name, t in expected.tables.items()}
    tables["metrics_daily"] = METRICS_DAILY_COLUMNS
    columns = ", ".join(f"({literal(t)}, {literal(c)})" for t, cols in tables.items() for c in cols)
    hypertables = ", ".join(
        f"({literal(h.table)}, {literal(h.time_column)}, interval {literal(h.chunk_interval)})"
        for h in expected.hypertables.values()
    )
    return [
        CATALOG_SQL.format(columns=columns, hypertables=hypertables),
        *(
            sql.format(not_null=not_null(t), event_types=event_types(t), skew=SKEW, days=window_days)
            for sql, t in ((LISTENER_SQL, "listener_events"), (ATTRIBUTION_SQL, "attribution_events"))
        ),
        METRICS_SQL.format(days=window_days),
    ]


def run_hand_sql(url: str, window_days: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for query in hand_queries(window_days):
            conn.execute(query).fetchall()
    return time.perf_counter() - started


def prepare(url: str, events: int, days: int) -> None:
    """Apply the master file and seed `events` listener events over the last `days` days."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute(read_schema())
    if events:
        seed_database(url, tenants=10, events=events, days=days, seed=1)
    with psycopg.connect(url, autocommit=True) as conn:
        refresh_metrics_daily(conn)
        conn.execute("VACUUM ANALYZE")
    print(f"  prepared {events:,} events over {days} days in {time.perf_counter() - started:.1f} s")


def measure(url: str, window_days: int, rounds: int, empty_url: str | None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        window = conn.execute(
            f"SELECT count(*) FROM listener_events WHERE event_time > now() - interval '{window_days} days'"
        ).fetchone()[0]  # type: ignore[index]
    print(f"  listener_events in the {window_days}-day window: {window:,}")
    started = time.perf_counter()
    from expectations.runner import run_suites

    run_suites.__module__  # noqa: B018  (the import above is what is timed)
    print(
        f"  import expectations.runner: {time.perf_counter() - started:.2f} s (GX is imported on first use)"
    )
    docs = Path(tempfile.mkdtemp(prefix="schemaflow-bench-gx-docs-"))
    try:
        if empty_url:
            for label in ("first run in the process, includes the GX import", "second run"):
                report = run_suites(empty_url, window_days=window_days, data_docs_dir=docs / "empty")
                print(f"  fixed cost (empty database, Data Docs), {label}: {report.seconds:.2f} s")
            report = run_suites(empty_url, window_days=window_days, build_docs=False)
            print(f"  fixed cost (empty database, no Data Docs), third run: {report.seconds:.2f} s")
        hand, gx, gx_docs = [], [], []
        for _ in range(rounds):
            hand.append(run_hand_sql(url, window_days))
            report = run_suites(url, window_days=window_days, build_docs=False)
            gx.append(report.seconds)
            report = run_suites(url, window_days=window_days, data_docs_dir=docs / "window")
            gx_docs.append(report.seconds)
        base = statistics.median(hand)
        print(f"  hand-written SQL, one query per batch:   {base:6.2f} s (median of {rounds})")
        for label, times in (("GX suites, no Data Docs", gx), ("GX suites with Data Docs", gx_docs)):
            median = statistics.median(times)
            # Each round's own ratio too: on a shared machine the load moves between rounds.
            per_round = statistics.median(t / h for t, h in zip(times, hand, strict=True))
            print(
                f"  {label + ':':<40} {median:6.2f} s  = {median / base:.2f}x hand-written SQL"
                f" (median of per-round ratios {per_round:.2f}x)"
            )
        print(f"  ({len(report.rows)} expectations, {len(report.failed_rows())} failed, {report.mode} mode)")
    finally:
        shutil.rmtree(docs, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=6, help="seed the events over the last N days")
    parser.add_argument("--window-days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="an already migrated and seeded database to measure")
    parser.add_argument("--empty-database-url", help="a migrated, empty database for the fixed cost")
    args = parser.parse_args()
    if args.database_url:
        print(f"GX benchmark on {mask_url(args.database_url)}")
        measure(args.database_url, args.window_days, args.rounds, args.empty_database_url)
        return 0
    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-gx-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        cluster.ensure_database()
        url = cluster.url()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE empty_window")
        print(f"GX benchmark: {args.events:,} events, throwaway cluster on port {cluster.port}")
        prepare(cluster.url("empty_window"), 0, args.days)
        prepare(url, args.events, args.days)
        measure(url, args.window_days, args.rounds, cluster.url("empty_window"))
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
