"""`schemaflow backup --env ENV [--database-url URL]`: the environment's backup strategy, by hand.

`backup = "pg_dump"`: a verified pg_dump of the environment's database, old ones pruned.
`backup = "pgbackrest"`: a named restore point in the archived WAL (db/backup/pgbackrest.py).
"""

from __future__ import annotations

import argparse
import sys

from cli.target import add_target_arguments, environment_target, warn_about
from db.connection.environments import get_environment


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("backup", help="pg_dump an environment's database, verify it, prune old backups")
    add_target_arguments(parser, env_required=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    env = get_environment(args.env)
    resolved = environment_target(env, args.database_url)  # TLS rule and credentials, before pg_dump
    warn_about(resolved)
    if env.backup == "pgbackrest":
        from db.backup.pgbackrest import point_restore_command, take_restore_point

        point = take_restore_point(resolved.url, env)
        print(
            f"restore point {point.name} at WAL {point.lsn} of {resolved} "
            f"(pgBackRest stanza {env.pgbackrest_stanza})"
        )
        print(f"restore with: {point_restore_command(env, point.name)}")
        return 0
    from db.backup.dump import backup_database, prune_backups, restore_command  # after the cheap checks

    result = backup_database(resolved.url, env)
    pruned = prune_backups(env)
    for warning in result.warnings:
        print(f"  {warning}", file=sys.stderr)
    print(
        f"backup of {resolved}: {result.path} ({result.size_bytes / 1e6:.1f} MB, {result.seconds:.1f} s, "
        f"{result.entries} archive entries, verified with pg_restore --list)"
    )
    for stale in result.stale_removed:
        print(f"removed {stale}, an unfinished backup left by a run that was killed")
    if pruned:
        print(f"pruned {len(pruned)} older backup(s) of {env.name}; keeping {env.keep_backups}")
    url = args.database_url and resolved.url
    print(f"restore with: {restore_command(env, result.path, url or None)}")
    return 0
