"""The `schemaflow` command line: parse arguments and call the same functions the flows call.

Each subcommand lives in its own module under cli/ with `register(subparsers)`; a handler returns
the process exit code, one of cli/exit_codes.py's table (also printed by `schemaflow --help`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from cli.exit_codes import ExitCode, epilog
from db.errors import SchemaflowError

# Only the two modules above at import: `schemaflow --version` answers before psycopg, pydantic or
# any command module loads (benchmarks/bench_cli.py times it against a bare `python -c pass`).

# Modules under cli/ that define register(subparsers). Add a line to add a command.
COMMAND_MODULES = [
    "cli.local_db",
    "cli.drift",
    "cli.plan",
    "cli.migrate",
    "cli.history",
    "cli.health",
    "cli.backup",
    "cli.refresh_metrics",
    "cli.enforce_retention",
    "cli.restore",
    "cli.seed_data",
    "cli.lint",
    "cli.secrets",
    "cli.new_migration",
    "cli.rollback",
    "cli.lint_migrations",
    "cli.versions",
    "cli.slot",
]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand (only `command`'s, when it names one).

    Importing one command's module instead of all keeps a refusal (a bad URL, the TLS rule) well
    under a second: the other modules pull in pglast, pg_dump helpers and more.
    """
    parser = argparse.ArgumentParser(
        prog="schemaflow",
        description="Ship the PostgreSQL + TimescaleDB master schema safely.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = f"cli.{command.replace('-', '_')}" if command else None
    for name in [wanted] if wanted in COMMAND_MODULES else COMMAND_MODULES:
        importlib.import_module(name).register(sub)  # type: ignore[arg-type]
    for command_parser in sub.choices.values():  # every command's --help ends with the same table
        command_parser.epilog = epilog()
        command_parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def version() -> str:
    """The installed package's version (pyproject.toml's), without importing anything heavy."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("schemaflow")
    except PackageNotFoundError:
        return "(not installed: run make setup-venv)"


def _command_word(argv: list[str]) -> str | None:
    """The subcommand's name in `argv` (the first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors become a one-line message and an exit code, never a bare traceback."""
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["--version"]:
        print(f"schemaflow {version()}")
        return ExitCode.OK
    from cli import warm_runner

    leave_runner_with: dict[str, str] | None = None
    if argv is None and warm_runner.enabled(_command_word(words), words):
        handed = warm_runner.hand_over(words)
        if handed is not None:
            return handed
        leave_runner_with = dict(os.environ)  # before the command adds Prefect's settings to it
    try:
        return _run(words, argv)
    finally:
        if leave_runner_with is not None:
            warm_runner.start_in_background(leave_runner_with)


def _run(words: list[str], argv: list[str] | None) -> int:
    from cli.target import check_target_early
    from db.connection.urls import mask_url

    if argv is None:
        # Run as the program: what it writes (reports, backups, Data Docs, lease records, a temporary
        # Prefect server's database) is private from its first byte. Not for in-process callers
        # (tests), whose other files are not ours to restrict.
        os.umask(0o077)
    try:
        # Before the command's module is imported: the TLS rule and credentials refuse in well under 1 s.
        check_target_early(words)
    except SchemaflowError as exc:
        return _report(exc, debug="--debug" in words, as_json="--json" in words)
    parser = build_parser(_command_word(words))
    args = parser.parse_args(argv)
    if not args.debug:
        quiet_prefect_exit()
    try:
        return int(args.handler(args) or 0)
    except SchemaflowError as exc:
        return _report(exc, debug=args.debug, as_json=bool(getattr(args, "json", False)))
    except KeyboardInterrupt:
        print("schemaflow: interrupted; nothing further was done", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print(f"schemaflow: unexpected {type(exc).__name__}: {mask_url(str(exc))}", file=sys.stderr)
        print("  what to do: re-run with --debug for the traceback and report it", file=sys.stderr)
        return ExitCode.FAILED


# Prefect's background senders (events from a Secret block read, run logs) warn through these plain
# loggers while they drain at exit: "Still processing items: 1 items remaining..." under a table.
PREFECT_EXIT_LOGGERS = ("EventsWorker", "APILogWorker")


# Prefect's concurrency services log an ERROR when our bounded wait for the migrate slot times out;
# the refusal, naming the holder, is ours to say (tasks/concurrency.py).
PREFECT_SLOT_LOGGER = "prefect._internal.concurrency"


def quiet_prefect_exit() -> None:
    """Keep Prefect's exit-time draining notices and its slot-wait errors off the terminal (--debug
    shows them)."""
    import logging

    for name in PREFECT_EXIT_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger(PREFECT_SLOT_LOGGER).setLevel(logging.CRITICAL)


def _report(exc: SchemaflowError, *, debug: bool, as_json: bool = False) -> int:
    """One error line and one what-to-do line on stderr; the exit code of the error's kind.

    With --json the same error also goes to stdout as JSON, so a script always has JSON to parse
    (a command that printed its own JSON before failing, like migrate's, is left as it is).
    """
    from db.connection.urls import mask_url

    if as_json and not getattr(exc, "json_printed", False):
        from cli.console import print_json

        print_json(
            {"error": mask_url(exc.message), "hint": mask_url(exc.hint or ""), "exit_code": exc.exit_code}
        )
    print(f"schemaflow: error: {mask_url(exc.message)}", file=sys.stderr)
    if exc.hint:
        print(f"  what to do: {mask_url(exc.hint)}", file=sys.stderr)
    if debug:
        raise exc
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
