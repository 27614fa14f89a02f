"""`schemaflow restore --env ENV --backup PATH [--into NAME] [--yes]`: put a backup back.

`schemaflow restore --env ENV --restore-point NAME --into DIR | --port N`: for `backup = "pgbackrest"`
environments, the server as it was at a run's restore point, restored by pgBackRest into a new data
directory and started on another port; the original server is not touched. Without --into and
--port the environment's own server is stopped and rewound (on its host), only with --yes.

With --into NAME the backup goes into a new database NAME and nothing else changes. Without it the
environment's database is replaced: the backup is restored into a fresh database, the names are
swapped, and the old database is kept (renamed) so the restore itself can be undone.

A backup with no tables, or one of another environment, database or server (or with no manifest to
tell), is refused unless --allow-empty-archive / --allow-foreign-archive says it is meant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.console import out, print_json
from cli.exit_codes import ExitCode
from cli.target import add_target_arguments, ask_yes, environment_target, warn_about
from db.backup.dump import verify_backup
from db.backup.manifest import EMPTY_FLAG, FOREIGN_FLAG
from db.backup.pgbackrest import restore_point_beside, restore_point_in_place
from db.backup.restore import restore_backup
from db.connection.environments import Environment, get_environment
from db.connection.urls import mask_url
from db.deploy.confirmation import confirmation_skipped
from db.errors import CheckFailed, ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("restore", help="restore a backup into a new database or in place of the target")
    add_target_arguments(parser, env_required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--backup", metavar="PATH", help="a backup made by schemaflow backup")
    source.add_argument(
        "--restore-point", metavar="NAME", help='a restore point a run made (backup = "pgbackrest")'
    )
    parser.add_argument(
        "--into",
        metavar="NAME|DIR",
        help="--backup: restore into this new database instead of replacing; "
        "--restore-point: the new data directory (default: beside the backups)",
    )
    parser.add_argument("--port", type=int, metavar="N", help="--restore-point: start the copy on this port")
    parser.add_argument("--yes", action="store_true", help="confirm replacing the environment's database")
    parser.add_argument(
        FOREIGN_FLAG,
        dest="allow_foreign",
        action="store_true",
        help="restore a backup of another environment, database or server, or one without a manifest",
    )
    parser.add_argument(
        EMPTY_FLAG, dest="allow_empty", action="store_true", help="restore a backup that contains no tables"
    )
    parser.add_argument("--json", action="store_true", help="print what was restored, and where, as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    env = get_environment(args.env)
    resolved = environment_target(env, args.database_url)  # TLS rule and credentials first: no I/O
    warn_about(resolved)
    if args.restore_point:
        return _restore_point(args, env, resolved.url)
    if args.port:
        raise ConfigError(
            "--port belongs to --restore-point", hint="leave it out, or restore a --restore-point"
        )
    path = Path(args.backup).expanduser()
    entries = verify_backup(path)  # a missing or unreadable backup fails before anything is touched
    question = (
        f"This replaces {env.name}'s database {resolved.masked} with the backup "
        "(the old one is kept, renamed)."
    )
    if not args.into and not (args.yes or confirmation_skipped() or ask_yes(question)):
        raise CheckFailed(
            f"restoring in place of {env.name}'s database needs confirmation; nothing was changed",
            hint="re-run with --yes (or SKIP_CONFIRMATION=true), or use --into NAME to restore beside it",
        )
    result = restore_backup(
        path,
        resolved.url,
        environment=env.name,
        into=args.into,
        allow_foreign=args.allow_foreign,
        allow_empty=args.allow_empty,
    )
    for name in result.removed:
        print(f"  dropped database {name!r}, left by a restore that was interrupted", file=sys.stderr)
    for problem in result.allowed:
        print(f"  allowed explicitly: {problem}", file=sys.stderr)
    if args.json:
        print_json(
            {
                "environment": env.name,
                "backup": str(path),
                "entries": entries,
                "database": result.database,
                "url": mask_url(result.url),
                "seconds": round(result.seconds, 2),
                "replaced": result.replaced or None,
                "allowed": list(result.allowed),
                "removed": list(result.removed),
            }
        )
        return ExitCode.OK
    out(
        f"restored {path} ({entries} archive entries) into database {result.database!r} "
        f"in {result.seconds:.1f} s: {mask_url(result.url)}"
    )
    if result.replaced:
        out(f"the previous database was kept as {result.replaced!r}; drop it once you are satisfied")
    return ExitCode.OK


def _restore_point(args: argparse.Namespace, env: Environment, url: str) -> int:
    if not args.into and not args.port:
        return _restore_point_in_place(args, env, url)
    into = Path(args.into).expanduser() if args.into else None
    result = restore_point_beside(env, url, args.restore_point, into=into, port=args.port)
    if args.json:
        return _point_json(env, result, in_place=False)
    out(
        f"restored {env.name} to restore point {result.name!r} in {result.seconds:.1f} s: data directory "
        f"{result.datadir}, running on port {result.port}: {mask_url(result.url)}"
    )
    out(f"the original server was not touched; stop the copy with: pg_ctl stop -D {result.datadir}")
    return ExitCode.OK


def _restore_point_in_place(args: argparse.Namespace, env: Environment, url: str) -> int:
    question = (
        f"This stops {env.name}'s server and rewinds its data directory to restore point "
        f"{args.restore_point!r}; everything written after it is lost."
    )
    if not (args.yes or confirmation_skipped() or ask_yes(question)):
        raise CheckFailed(
            f"restoring {env.name} in place to {args.restore_point!r} needs confirmation; nothing changed",
            hint="re-run with --yes, or with --into DIR / --port N to start a copy beside the original",
        )
    result = restore_point_in_place(env, url, args.restore_point)
    if args.json:
        return _point_json(env, result, in_place=True)
    out(
        f"restored {env.name} in place to restore point {result.name!r} in {result.seconds:.1f} s "
        f"(data directory {result.datadir}); it is running again: {mask_url(result.url)}"
    )
    return ExitCode.OK


def _point_json(env: Environment, result, *, in_place: bool) -> int:  # type: ignore[no-untyped-def]
    print_json(
        {
            "environment": env.name,
            "restore_point": result.name,
            "in_place": in_place,
            "datadir": str(result.datadir),
            "port": getattr(result, "port", None),
            "url": mask_url(result.url),
            "seconds": round(result.seconds, 2),
        }
    )
    return ExitCode.OK
