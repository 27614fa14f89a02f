"""`schemaflow restore --env ENV --backup PATH [--into NAME] [--yes]`: put a backup back.

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

from cli.target import add_target_arguments, ask_yes, environment_target, warn_about
from db.backup.dump import verify_backup
from db.backup.manifest import EMPTY_FLAG, FOREIGN_FLAG
from db.backup.restore import restore_backup
from db.connection.environments import get_environment
from db.connection.urls import mask_url
from db.deploy.preflight import confirmation_skipped
from db.errors import CheckFailed


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("restore", help="restore a backup into a new database or in place of the target")
    add_target_arguments(parser, env_required=True)
    parser.add_argument("--backup", required=True, metavar="PATH", help="a backup made by schemaflow backup")
    parser.add_argument("--into", metavar="NAME", help="restore into this new database instead of replacing")
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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    env = get_environment(args.env)
    resolved = environment_target(env, args.database_url)  # TLS rule and credentials first: no I/O
    warn_about(resolved)
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
    for problem in result.allowed:
        print(f"  allowed explicitly: {problem}", file=sys.stderr)
    print(
        f"restored {path} ({entries} archive entries) into database {result.database!r} "
        f"in {result.seconds:.1f} s: {mask_url(result.url)}"
    )
    if result.replaced:
        print(f"the previous database was kept as {result.replaced!r}; drop it once you are satisfied")
    return 0
