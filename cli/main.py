"""The `schemaflow` command line: parse arguments and call the same functions the flows call.

Each subcommand lives in its own module under cli/ with `register(subparsers)`; a handler returns
the process exit code (0 ok, 1 a check failed, 2 usage or configuration error).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from db.connection.urls import mask_url
from db.errors import SchemaflowError

# Modules under cli/ that define register(subparsers). Add a line to add a command.
COMMAND_MODULES = [
    "cli.local_db",
    "cli.drift",
    "cli.migrate",
    "cli.history",
    "cli.health",
    "cli.backup",
    "cli.restore",
    "cli.seed_data",
    "cli.lint",
    "cli.secrets",
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="schemaflow",
        description="Ship the PostgreSQL + TimescaleDB master schema safely.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors become a one-line message and an exit code, never a bare traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except SchemaflowError as exc:
        print(f"schemaflow: error: {mask_url(exc.message)}", file=sys.stderr)
        if exc.hint:
            print(f"  what to do: {mask_url(exc.hint)}", file=sys.stderr)
        if args.debug:
            raise
        return exc.exit_code
    except KeyboardInterrupt:
        print("schemaflow: interrupted; nothing further was done", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"schemaflow: unexpected {type(exc).__name__}: {mask_url(str(exc))}", file=sys.stderr)
        print("  what to do: re-run with --debug for the traceback and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
