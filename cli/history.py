"""`schemaflow history --env ENV`: the migrate runs recorded in the target database, newest first."""

from __future__ import annotations

import argparse
from datetime import UTC

from cli.target import add_target_arguments, environment_target, warn_about
from db.connection.environments import get_environment


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("history", help="list the migrate runs recorded in an environment's database")
    add_target_arguments(parser, env_required=True)
    parser.add_argument("--limit", type=int, default=20, help="how many runs to show (default 20)")
    parser.add_argument(
        "--all-environments",
        action="store_true",
        help="also show runs recorded under other environment names",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    env = get_environment(args.env)
    resolved = environment_target(env, args.database_url)
    warn_about(resolved)
    from db.connection.connect import connect
    from db.deploy.history import list_runs

    with connect(resolved.url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        runs = list_runs(conn, None if args.all_environments else env.name, limit=args.limit)
    print(f"migration history of {resolved}")
    if not runs:
        print("  no runs recorded (schemaflow.migration_history is empty or does not exist yet)")
        return 0
    print(
        f"{'id':>5}  {'started (UTC)':19}  {'env':10}  {'outcome':7}  {'changed':>7}  {'secs':>7}  "
        "who / commit"
    )
    for r in runs:
        commit = (r["git_commit"] or "")[:10] or "-"
        who = f"{r['os_user'] or '?'}@{r['client_host'] or '?'} as {r['db_user']}"
        print(
            f"{r['id']:>5}  {r['started_at'].astimezone(UTC):%Y-%m-%d %H:%M:%S}  {r['environment'][:10]:10}  "
            f"{r['outcome']:7}  {r['objects_changed']:>7}  {float(r['duration_seconds']):>7.2f}  "
            f"{who} {commit}"
        )
        if r["error_message"]:
            print(f"{'':7}error: {r['error_message']}")
    return 0
