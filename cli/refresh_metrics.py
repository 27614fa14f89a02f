"""`schemaflow refresh-metrics --env ENV [--window 3d]`: metrics_daily's windowed refresh, by hand.

The same function the refresh-metrics flow runs on its schedule (db/deploy/metrics.py): the UTC days
from now() - window on are re-aggregated and upserted, older buckets stay as they are.
"""

from __future__ import annotations

import argparse

from cli.console import out, print_json
from cli.exit_codes import ExitCode
from cli.target import add_target_arguments, environment_target, warn_about
from db.connection.environments import get_environment


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "refresh-metrics", help="re-aggregate metrics_daily inside its refresh window (older days stay)"
    )
    add_target_arguments(parser, env_required=True)
    parser.add_argument(
        "--window",
        default="3d",
        metavar="INTERVAL",
        help="how far back to re-aggregate: 3d (default), 12h, 90m or a PostgreSQL interval",
    )
    parser.add_argument("--json", action="store_true", help="print what the refresh did as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from db.connection.connect import connect
    from db.deploy.metrics import parse_window, refresh_metrics_window

    window = parse_window(args.window)  # a bad window is refused before any connection
    env = get_environment(args.env)
    resolved = environment_target(env, args.database_url)
    warn_about(resolved)
    with connect(resolved.url, autocommit=True) as conn:
        report = refresh_metrics_window(conn, window, env.name)
    if args.json:
        print_json({"environment": env.name, **report.as_dict(), "window_start": str(report.window_start)})
        return ExitCode.OK
    counts = (
        f"{report.buckets_upserted} bucket(s) upserted, {report.buckets_deleted} deleted"
        if report.kind == "table"
        else f"{report.kind} refreshed"
    )
    out(
        f"metrics_daily of {resolved}: days from {report.window_start} re-aggregated, {counts} "
        f"({report.seconds:.3f} s)"
    )
    return ExitCode.OK
