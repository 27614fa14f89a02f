"""`schemaflow backup --env ENV [--database-url URL]`: the environment's backup strategy, by hand.

`backup = "pg_dump"`: a verified pg_dump of the environment's database, old ones pruned.
`backup = "pgbackrest"`: a named restore point in the archived WAL (db/backup/pgbackrest.py).
"""

from __future__ import annotations

import argparse
import sys

from cli.console import out, print_json, print_raw, step
from cli.exit_codes import ExitCode
from cli.target import add_target_arguments, environment_target, warn_about
from db.connection.environments import get_environment
from db.connection.urls import mask_url


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("backup", help="pg_dump an environment's database, verify it, prune old backups")
    add_target_arguments(parser, env_required=True)
    parser.add_argument(
        "--json", action="store_true", help="print the backup (path, size, restore command) as JSON"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    env = get_environment(args.env)
    resolved = environment_target(env, args.database_url)  # TLS rule and credentials, before pg_dump
    warn_about(resolved)
    if env.backup == "pgbackrest":
        from db.backup.pgbackrest import point_restore_command, take_restore_point

        point = take_restore_point(resolved.url, env)
        if args.json:
            print_json(
                {
                    "environment": env.name,
                    "kind": "pgbackrest restore point",
                    "restore_point": point.name,
                    "lsn": str(point.lsn),
                    "stanza": env.pgbackrest_stanza,
                    "restore_command": point_restore_command(env, point.name),
                }
            )
            return ExitCode.OK
        out(
            f"restore point {point.name} at WAL {point.lsn} of {resolved} "
            f"(pgBackRest stanza {env.pgbackrest_stanza})"
        )
        print_raw(f"restore with: {point_restore_command(env, point.name)}")  # unwrapped: to paste
        return ExitCode.OK
    from db.backup.dump import backup_database, prune_backups, restore_command  # after the cheap checks

    # pg_dump's size so far on a live line (db.progress, from backup_database), then its result.
    with step("backup", f"pg_dump of {env.name}, then pg_restore --list", enabled=not args.json):
        result = backup_database(resolved.url, env)
    pruned = prune_backups(env, result.manifest)
    for warning in result.warnings:
        print(f"  {warning}", file=sys.stderr)
    url = args.database_url and resolved.url
    command = restore_command(env, result.path, url or None)
    if args.json:
        print_json(
            {
                "environment": env.name,
                "kind": "pg_dump",
                "path": str(result.path),
                "size_bytes": result.size_bytes,
                "seconds": round(result.seconds, 2),
                "entries": result.entries,
                "warnings": result.warnings,
                "stale_removed": [str(p) for p in result.stale_removed],
                "restores_removed": result.restores_removed,
                "pruned": [str(p) for p in pruned],
                "restore_command": mask_url(command),
            }
        )
        return ExitCode.OK
    out(
        f"backup of {resolved}: {result.path} ({result.size_bytes / 1e6:.1f} MB, {result.seconds:.1f} s, "
        f"{result.entries} archive entries, verified with pg_restore --list)"
    )
    for stale in result.stale_removed:
        out(f"removed {stale}, an unfinished backup left by a run that was killed")
    for name in result.restores_removed:
        out(f"dropped database {name!r}, left by a restore that was interrupted")
    if pruned:
        out(f"pruned {len(pruned)} older backup(s) of {env.name}; keeping {env.keep_backups}")
    print_raw(f"restore with: {command}")  # unwrapped: a command to paste
    return ExitCode.OK
