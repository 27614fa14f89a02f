"""`schemaflow versions --env ENV`: the one-offs' history; `schemaflow repair`: record an edit on purpose.

`repair --env ENV --version V --reason WHY` writes a 'repair' row with the applied file's new
checksum and the reason (db/versions/validate.py): the edit is then in the history, never silent.
"""

from __future__ import annotations

import argparse

from cli.target import add_target_arguments, environment_target, warn_about
from db.connection.environments import get_environment


def register(sub: argparse._SubParsersAction) -> None:
    listing = sub.add_parser("versions", help="list the one-off migrations recorded in a database")
    add_target_arguments(listing, env_required=True)
    listing.set_defaults(handler=run_list)
    repair = sub.add_parser("repair", help="record the new checksum of an applied, edited one-off (with why)")
    add_target_arguments(repair, env_required=True)
    repair.add_argument("--version", required=True, help="the applied one-off's 14-digit version")
    repair.add_argument("--reason", required=True, help="why the applied file changed (recorded)")
    repair.set_defaults(handler=run_repair)


def run_list(args: argparse.Namespace) -> int:
    from db.clip import clip
    from db.connection.connect import connect
    from db.connection.urls import mask_url
    from db.versions.backfill import describe_started, started_backfills
    from db.versions.files import discover_migrations
    from db.versions.history import list_versions
    from db.versions.validate import version_status

    env = get_environment(args.env)
    target = environment_target(env, args.database_url)
    warn_about(target)
    files = discover_migrations(env.migrations_dir)
    with connect(target.url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        rows = list_versions(conn)
        status = version_status(conn, files, allow_out_of_order=True)
        started = started_backfills(conn)
    print(f"one-off migrations of {target}")
    for r in rows:
        late = " (out of order)" if r["out_of_order"] else ""
        # A failed attempt is recorded with kind 'applied'; "applied failed" read as if it were applied.
        failed = r["outcome"] != "success"
        kind = "tried" if failed and r["kind"] == "applied" else r["kind"]
        print(f"  {r['version']}  {kind:8}  {r['outcome']:7}  {r['started_at']:%Y-%m-%d %H:%M:%S}  "
              f"{float(r['duration_seconds']):8.3f} s  {r['slug']}{late}")  # fmt: skip
        if failed and r["detail"]:
            print(f"      {clip(mask_url(r['detail'].splitlines()[0]), 300)}")
    for f in status.pending:
        # A backfill that committed batches but has not converged is partly done, not pending.
        state = "partly done" if f.version in started else "pending    "
        print(f"  {f.version}  {state}                                     {f.slug} ({f.directives()})")
        for backfill in started.get(f.version, ()):
            print(f"      {describe_started(backfill)}")
    if not rows and not status.pending:
        print("  none recorded and none pending")
    return 0


def run_repair(args: argparse.Namespace) -> int:
    from db.connection.connect import connect
    from db.versions.files import discover_migrations
    from db.versions.validate import repair_version

    env = get_environment(args.env)
    target = environment_target(env, args.database_url)
    warn_about(target)
    files = discover_migrations(env.migrations_dir)
    with connect(target.url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        row = repair_version(conn, files, args.version, environment=env.name, reason=args.reason)
    print(f"repair of {args.version} recorded: {row.detail}")
    return 0
