"""`schemaflow new-migration SLUG [--env ENV | --dir PATH]`: write a dated one-off from the template."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "new-migration", help="write a dated one-off migration file (rename, type change, backfill)"
    )
    parser.add_argument("slug", help="what it does, in lower-case words joined by _ (rename_x_to_y)")
    parser.add_argument("--env", help="use this environment's migrations_dir (environments.toml)")
    parser.add_argument("--dir", metavar="PATH", help="the migrations folder (default db/migrations)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from db.versions.template import write_new_migration

    directory = args.dir
    if directory is None and args.env:
        from db.connection.environments import get_environment

        directory = getattr(get_environment(args.env), "migrations_dir", None)
    path = write_new_migration(args.slug, directory)
    print(f"wrote {path}")
    print("  next: write the change and its down section, put the end state into the master file, "
          "then schemaflow lint and schemaflow migrate --dry-run")  # fmt: skip
    return 0
