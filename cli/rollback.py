"""`schemaflow rollback --env ENV --to VERSION [--yes]`: undo one-offs newer than VERSION, through a flow.

The rollback flow (flows/rollback.py) runs preflight, the environment's backup, then the down
sections newest first under the migration lock, and records them. A file without a down section is
refused before any change, with the restore command of the backup taken before it ran.
"""

from __future__ import annotations

import argparse

from cli.target import add_target_arguments, confirmation_source, environment_target, warn_about
from db.connection.environments import get_environment
from db.deploy.confirmation import CONFIRMATION_HINT
from db.errors import CheckFailed


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rollback", help="undo the one-off migrations applied after a version")
    add_target_arguments(parser, env_required=True)
    parser.add_argument(
        "--to", required=True, metavar="VERSION", help="keep this version, undo newer ones (0: all)"
    )
    parser.add_argument("--yes", action="store_true", help="confirm (required where the environment asks)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    env = get_environment(args.env)
    target = environment_target(env, args.database_url)
    warn_about(target)
    needs_question = env.require_confirmation or env.require_approval
    question = f"Roll back {env.name!r} at {target.masked} to version {args.to}?"
    confirmed_by = confirmation_source(args.yes, question if needs_question else None)
    if needs_question and not confirmed_by:
        raise CheckFailed(
            f"environment {env.name!r} requires confirmation; nothing was changed",
            hint=f"re-run with --yes ({CONFIRMATION_HINT})",
        )
    from cli.prefect_server import flow_run_in_cli, prepare_prefect

    prepare_prefect(debug=args.debug)
    from pydantic import SecretStr

    from flows.rollback import rollback

    with flow_run_in_cli():
        state = rollback(
            environment=env.name,
            to_version=args.to,
            confirm=bool(confirmed_by),
            confirmed_by=confirmed_by or None,
            database_url=SecretStr(args.database_url) if args.database_url else None,
            return_state=True,
        )
    if state.is_completed():
        summary = state.result()
        undone = ", ".join(summary["undone"]) or "nothing (no applied one-off is newer)"
        print(f"rollback {env.name} to {args.to}: undid {undone}")
        if summary.get("restore_command"):
            print(f"  backup taken before: {summary['restore_command']}")
        return 0
    state.result(raise_on_failure=True)  # re-raises the flow's SchemaflowError: main() prints it
    return 1
