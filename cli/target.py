"""What the commands share: resolving the database a command works on, once, and asking to confirm.

Resolution happens before anything heavy is imported (Prefect, GX) and before any connection: a
connection string that breaks the TLS rule, or an environment whose Secret block cannot be read, stops
the command within a second. Prefect is imported only to read a Secret block, from a server that
already runs (cli/prefect_server.py), never a temporary one.
"""

from __future__ import annotations

import argparse
import sys

from db.connection.credentials import SecretLoader
from db.connection.environments import Environment, get_environment
from db.connection.target import Target, resolve_target, target_for_url
from db.deploy.confirmation import (
    CONFIRMED_BY_ENV,
    CONFIRMED_BY_FLAG,
    CONFIRMED_BY_PROMPT,
    confirmation_skipped,
)
from db.errors import ConfigError

# `plan --base-ref REF`, `plan --from-file BASE`: no target to resolve (cli/plan_change.py).
CHANGE_WORDS = ("--base-ref", "--from-file", "--to-file")
DATABASE_URL_HELP = (
    "connection string overriding the environment's: a postgresql:// URL, a keyword string "
    "('host=... dbname=...') or service=NAME"
)


def add_target_arguments(parser, *, env_required: bool) -> None:  # type: ignore[no-untyped-def]
    """--env and --database-url, the same on every command."""
    parser.add_argument(
        "--env", required=env_required, metavar="ENV", help="environment name from environments.toml"
    )
    parser.add_argument("--database-url", metavar="URL", help=DATABASE_URL_HELP)


def add_allow_lint_argument(parser: argparse.ArgumentParser) -> None:
    """--allow-lint RULE: plan and migrate refuse a master file with lint findings unless named."""
    parser.add_argument(
        "--allow-lint",
        action="append",
        default=[],
        metavar="RULE",
        help="let a master-file lint finding of this rule (SF005, ...) through, after review; repeatable",
    )


def add_scratch_argument(parser) -> None:  # type: ignore[no-untyped-def]
    """--scratch-url, shared by migrate, plan and drift (db/catalog/scratch.py)."""
    parser.add_argument(
        "--scratch-url",
        metavar="URL|NAME",
        help="the empty database to build the expected schema in: a name on the target's server or a "
        "URL on a server of the same build (default: the environment's scratch_url, else "
        "schemaflow_scratch on the target's server); left empty afterwards",
    )


def cli_secret_loader(_name: str) -> str | None:
    """Read a Secret block from a Prefect server that answers now; never start a temporary one."""
    from cli.prefect_server import reachable_api_url

    api = reachable_api_url()
    from tasks.secrets import read_secret_block  # imports Prefect: only once a server answered

    return read_secret_block(_name, api)


# One resolution per process: main() checks the target before a command's module is imported, and
# the command then gets the same object instead of resolving and parsing again.
_resolved: dict[tuple[str, str | None], Target] = {}


def environment_target(env: Environment, database_url: str | None = None) -> Target:
    """The environment's target as migrate resolves it (explicit URL, Secret block, variables)."""
    key = (env.name, database_url)
    if key not in _resolved:
        loader: SecretLoader | None = cli_secret_loader if env.secret_block and not database_url else None
        _resolved[key] = resolve_target(env, database_url, loader)
    return _resolved[key]


def check_target_early(argv: list[str]) -> None:
    """Resolve the target named by --env / --database-url in `argv` before the command is imported.

    Everything that needs no Prefect server (an explicit URL, an environment's variables) is parsed
    and held to the TLS rule here, so a refused connection string costs the time to start Python and
    load libpq, whatever the command. A Secret block is left to the command, which reads it.
    """
    _resolved.clear()  # tests call main() many times in one process, with other environment files
    if any(word in ("-h", "--help") for word in argv):
        return
    if any(word.split("=", 1)[0] in CHANGE_WORDS for word in argv):
        return  # the plan of a change reads the environment's settings, never its database
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--env")
    early.add_argument("--database-url")
    known, _ = early.parse_known_args(argv)
    if known.env:
        env = get_environment(known.env)
        if known.database_url or not env.secret_block:
            environment_target(env, known.database_url)
    elif known.database_url:
        target_for_url(known.database_url)


environment_url = environment_target  # the name the commands used before Target existed


def command_target(env_name: str | None, database_url: str | None, *, command: str) -> Target:
    """--database-url alone, or --env ENV (optionally overridden by --database-url)."""
    if env_name:
        return environment_target(get_environment(env_name), database_url)
    if not database_url:
        raise ConfigError(f"{command} needs a database", hint="pass --env ENV or --database-url URL")
    return target_for_url(database_url)


def warn_about(target: Target) -> None:
    """Print the target's warnings (e.g. sslmode=require does not authenticate the server) on stderr."""
    for warning in target.warnings:
        print(f"schemaflow: warning: {warning}", file=sys.stderr)


def confirmation_source(yes: bool, question: str | None = None) -> str:
    """Where a confirmation came from: --yes, SKIP_CONFIRMATION=true (read here, never in a flow), a
    typed yes when `question` is asked on a terminal; "" when none was given."""
    if yes:
        return CONFIRMED_BY_FLAG
    if confirmation_skipped():
        return CONFIRMED_BY_ENV
    if question and ask_yes(question):
        return CONFIRMED_BY_PROMPT
    return ""


def ask_yes(question: str) -> bool:
    """A typed 'yes' on a terminal; without a terminal (scripts, CI) the answer is no, never a hang."""
    if not sys.stdin.isatty():
        return False
    print(question)
    try:
        return input("Type 'yes' to continue: ").strip().lower() == "yes"
    except EOFError:
        return False
