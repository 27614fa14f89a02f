"""`schemaflow new-migration SLUG [--env ENV | --dir PATH]`: write a dated one-off from the template."""

from __future__ import annotations

import argparse

from cli.migrations_folder import add_migrations_folder_arguments, migrations_folder


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "new-migration", help="write a dated one-off migration file (rename, type change, backfill)"
    )
    parser.add_argument("slug", help="what it does, in lower-case words joined by _ (rename_x_to_y)")
    add_migrations_folder_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from db.versions.template import write_new_migration

    directory = migrations_folder(args)
    path = write_new_migration(args.slug, directory)
    print(f"wrote {path}")
    print("  next: write the change and its down section, put the end state into the master file, "
          "then schemaflow lint and schemaflow migrate --dry-run")  # fmt: skip
    return 0
