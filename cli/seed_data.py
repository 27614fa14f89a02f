"""`schemaflow seed-data [--database-url URL | --env ENV] --tenants N --events N --days D [--seed S]`.

Fills a database that has the master schema with deterministic demo data, then refreshes
metrics_daily. Refuses environments that require confirmation (production): demo rows do not belong
there.
"""

from __future__ import annotations

import argparse

from cli.target import add_target_arguments, command_target, warn_about
from db.connection.environments import get_environment
from db.connection.urls import mask_url
from db.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("seed-data", help="fill a database with deterministic demo data")
    add_target_arguments(parser, env_required=False)
    parser.add_argument("--tenants", type=int, default=3, help="number of tenants (default 3)")
    parser.add_argument("--events", type=int, default=100_000, help="listener events (default 100000)")
    parser.add_argument("--days", type=int, default=30, help="days of history up to now (default 30)")
    parser.add_argument(
        "--seed", type=int, default=1, help="generator seed: same seed, same rows (default 1)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="connections inserting listener events at once (default 2)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.env and get_environment(args.env).require_confirmation:
        raise ConfigError(
            f"refusing to write demo data into environment {args.env!r} (it requires confirmation)",
            hint="seed a local or staging database instead",
        )
    target = command_target(args.env, args.database_url, command="seed-data")
    warn_about(target)
    url = target.url
    if not 1 <= args.workers <= 16:
        raise ConfigError(f"--workers must be between 1 and 16, got {args.workers}")
    from db.connection.connect import connect
    from db.local.seed import refresh_metrics_daily, seed_database

    report = seed_database(
        url, tenants=args.tenants, events=args.events, days=args.days, seed=args.seed, workers=args.workers
    )
    with connect(url, autocommit=True) as conn:
        refreshed = refresh_metrics_daily(conn)
    total = sum(report.rows.values())
    print(f"seeded {mask_url(url)}: {total} rows in {report.elapsed:.1f} s (seed {args.seed})")
    for table, rows in report.rows.items():
        print(f"  {table:<24} {rows:>10}")
    if refreshed:
        print(f"then: {refreshed}")
    if total == 0:
        print("nothing new: this seed was already loaded (use another --seed for more data)")
    return 0
