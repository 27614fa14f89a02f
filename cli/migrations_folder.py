"""The one-off migrations folder a command works on: `--dir PATH`, else `--env ENV`'s, else the default."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_migrations_folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", help="use this environment's migrations_dir (environments.toml)")
    parser.add_argument("--dir", metavar="PATH", help="the migrations folder (default db/migrations)")


def migrations_folder(args: argparse.Namespace) -> str | Path | None:
    """None: the default folder (db/migrations)."""
    if args.dir is not None or not args.env:
        return args.dir
    from db.connection.environments import get_environment  # reads environments.toml: only when named

    return get_environment(args.env).migrations_dir
