"""`schemaflow seed-data [--database-url URL | --env ENV] --tenants N --events N --days D [--seed S]`.

Fills a database that has the master schema with deterministic demo data, then refreshes
metrics_daily. Refuses environments that require confirmation (production): demo rows do not belong
there.
"""

from __future__ import annotations

import argparse

from cli.console import LiveSteps, console, out, print_json, step, table
from cli.exit_codes import ExitCode
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
    parser.add_argument("--json", action="store_true", help="print the rows inserted per table as JSON")
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
    from db.progress import listening

    # The live line shows listener events done of --events and rows/s (db.progress, from seed_database).
    with LiveSteps(enabled=not args.json) as steps, listening(steps.on_event):
        report = seed_database(
            url,
            tenants=args.tenants,
            events=args.events,
            days=args.days,
            seed=args.seed,
            workers=args.workers,
        )
    refreshing = step("metrics_daily", "refreshing the continuous aggregate", enabled=not args.json)
    with refreshing, connect(url, autocommit=True) as conn:
        refreshed = refresh_metrics_daily(conn)
    total = sum(report.rows.values())
    if args.json:
        print_json(
            {
                "target": mask_url(url),
                "seed": args.seed,
                "rows": report.rows,
                "total_rows": total,
                "seconds": round(report.elapsed, 2),
                "rows_per_second": round(total / report.elapsed) if report.elapsed else None,
                "refreshed": refreshed,
            }
        )
        return ExitCode.OK
    rate = f", {total / report.elapsed:,.0f} rows/s" if report.elapsed else ""
    out(f"seeded {mask_url(url)}: {total} rows in {report.elapsed:.1f} s{rate} (seed {args.seed})")
    rows = table("table", "rows")
    rows.columns[1].justify = "right"
    for name, count in report.rows.items():
        rows.add_row(name, f"{count:,}")
    console().print(rows)
    if refreshed:
        out(f"then: {refreshed}")
    if total == 0:
        out("nothing new: this seed was already loaded (use another --seed for more data)")
    return ExitCode.OK
