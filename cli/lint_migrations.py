"""`schemaflow lint-migrations [--env ENV | --dir PATH]`: Squawk and the project's rules over one-off files.

Exit 0 when no file has an error (Squawk's findings are warnings), 1 otherwise, 2 on a bad folder.
"""

from __future__ import annotations

import argparse

from cli.migrations_folder import add_migrations_folder_arguments, migrations_folder


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "lint-migrations", help="lint the one-off migration files (Squawk and schemaflow's rules)"
    )
    add_migrations_folder_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from db.versions.files import discover_migrations
    from db.versions.lint import ACK_HINT, ACK_RULE, lint_migration
    from db.versions.lock_rules import EXCLUSIVE_RULE, LOCKS_ACK_HINT, TIMEOUT_RULE

    directory = migrations_folder(args)
    files = discover_migrations(directory)
    limits = None
    if args.env:  # its timeouts are the ceiling a file may not SET above (without --env: no 0)
        from db.connection.environments import get_environment

        env = get_environment(args.env)
        limits = {"lock_timeout": env.lock_timeout, "statement_timeout": env.statement_timeout}
    errors = 0
    for f in files:
        findings = lint_migration(f, limits=limits)
        errors += sum(1 for x in findings if x.severity == "error")
        for finding in findings:
            print(finding.format())
            if finding.rule == ACK_RULE:
                print(f"    what to do: {ACK_HINT}")
            elif finding.rule in (TIMEOUT_RULE, EXCLUSIVE_RULE):
                print(f"    what to do: {LOCKS_ACK_HINT}")
        if not findings:
            print(f"{f.name}: ok")
    print(f"{len(files)} one-off file(s), {errors} error(s)")
    return 1 if errors else 0
