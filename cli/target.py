"""What the commands share: finding the database a command works on, and asking a person to confirm."""

from __future__ import annotations

import sys

from db.connection.credentials import ResolvedUrl, resolve_database_url
from db.connection.environments import Environment, get_environment
from db.connection.urls import validate_url
from db.errors import ConfigError


def environment_url(env: Environment, database_url: str | None = None) -> ResolvedUrl:
    """The environment's URL as migrate resolves it; Prefect is imported only for a Secret block."""
    loader = None
    if env.secret_block and not database_url:
        from tasks.secrets import load_secret  # imports Prefect: only when a Secret block may answer

        loader = load_secret
    return resolve_database_url(env, explicit_url=database_url, secret_loader=loader)


def resolve_target(env_name: str | None, database_url: str | None, *, command: str) -> ResolvedUrl:
    """--database-url alone, or --env ENV (optionally overridden by --database-url)."""
    if env_name:
        return environment_url(get_environment(env_name), database_url)
    if not database_url:
        raise ConfigError(f"{command} needs a database", hint="pass --env ENV or --database-url URL")
    validate_url(database_url)
    return ResolvedUrl(database_url, "--database-url")


def ask_yes(question: str) -> bool:
    """A typed 'yes' on a terminal; without a terminal (scripts, CI) the answer is no, never a hang."""
    if not sys.stdin.isatty():
        return False
    print(question)
    try:
        return input("Type 'yes' to continue: ").strip().lower() == "yes"
    except EOFError:
        return False
