"""`schemaflow secrets set|list`: the Prefect Secret blocks that hold staging's and production's URLs.

The block names come from environments.toml (`secret_block`); the values come from a variable named
with --from-env or from a prompt that does not echo, and go straight to the Prefect server. Nothing is
written to a file, so nothing can be committed.

Which server: PREFECT_API_URL when it is set, otherwise the one `make ui` runs (cli/prefect_server.py,
found through PREFECT_HOME).

`secrets list` exits 0 when every environment's block is on the server, 1 when one is missing (a run
of that environment would stop), 2 when no server answers.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from cli.console import console, out, print_json, status, table
from cli.exit_codes import ExitCode
from cli.prefect_server import require_api_url
from db.connection.environments import Environment, get_environment, load_environments
from db.connection.target import make_target
from db.connection.urls import mask_url
from db.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("secrets", help="store environments' database URLs in Prefect Secret blocks")
    actions = parser.add_subparsers(dest="secrets_action", metavar="ACTION", required=True)
    set_parser = actions.add_parser("set", help="create or replace an environment's Secret block")
    set_parser.add_argument("environment", help="an environment with secret_block set (staging, production)")
    set_parser.add_argument(
        "--from-env",
        metavar="VAR",
        help="read the URL from this environment variable instead of prompting (e.g. STAGING_DATABASE_URL)",
    )
    set_parser.add_argument("--overwrite", action="store_true", help="replace an existing block")
    list_parser = actions.add_parser(
        "list", help="show each environment's block and whether the server has it (exit 1: one is missing)"
    )
    list_parser.add_argument("--json", action="store_true", help="print the blocks and their state as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    api_url = prefect_api_url()
    if args.secrets_action == "list":
        return list_blocks(api_url, as_json=args.json)
    env = get_environment(args.environment)
    if not env.secret_block:
        raise ConfigError(
            f"environment {env.name!r} has no secret_block",
            hint=f'add secret_block = "schemaflow-{env.name}-database-url" to [environments.{env.name}]',
        )
    url = read_url(env, args.from_env)
    save_block(env.secret_block, url, api_url=api_url, overwrite=args.overwrite)
    out(f"saved {mask_url(url)} as Secret block {env.secret_block!r} on {api_url}")
    return ExitCode.OK


def prefect_api_url() -> str:
    """PREFECT_API_URL, else the `make ui` server's API; ConfigError with both ways out when neither."""
    return require_api_url()


def read_url(env: Environment, from_env: str | None) -> str:
    """The URL from the named variable or a no-echo prompt, validated like a deploy would."""
    if from_env:
        url = os.environ.get(from_env, "").strip()
        if not url:
            raise ConfigError(f"{from_env} is not set or empty", hint=f"export {from_env}=postgresql://...")
    else:
        url = getpass.getpass(f"database URL for {env.name} (input hidden): ").strip()
    # The same parse and TLS rule a deploy applies, so a block never holds a URL a run would refuse.
    target = make_target(url, f"the URL for {env.name}", env)
    for warning in target.warnings:
        print(f"schemaflow: warning: {warning}", file=sys.stderr)
    return url


def save_block(name: str, value: str, *, api_url: str, overwrite: bool) -> None:
    """Store `value` as Secret block `name` on the server at `api_url`."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from pydantic import SecretStr

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        try:
            Secret(value=SecretStr(value)).save(name, overwrite=overwrite)
        except ValueError as exc:
            if "already" in str(exc).lower():
                raise ConfigError(
                    f"Secret block {name!r} already exists", hint="add --overwrite to replace it"
                ) from None
            raise ConfigError(f"could not save Secret block {name!r}: {mask_url(str(exc))}") from None
        except Exception as exc:
            raise ConfigError(
                f"could not reach the Prefect server at {api_url}: {type(exc).__name__}",
                hint="is it running? `make ui` starts a local one",
            ) from None


def list_blocks(api_url: str, *, as_json: bool = False) -> int:
    """Print each environment's Secret block and whether it exists; exit 1 if one is missing."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    blocks = []
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        for env in load_environments().values():
            if not env.secret_block:
                continue
            try:
                Secret.load(env.secret_block)
                present = True
            except ValueError:
                present = False
            blocks.append({"environment": env.name, "block": env.secret_block, "present": present})
    code = ExitCode.OK if all(b["present"] for b in blocks) else ExitCode.FAILED
    if as_json:
        print_json({"server": api_url, "blocks": blocks, "all_present": code == ExitCode.OK})
        return code
    rows = table("environment", "Secret block", "state")
    for b in blocks:
        rows.add_row(str(b["environment"]), str(b["block"]), status("present" if b["present"] else "missing"))
    console().print(rows)
    out(f"(server: {api_url})")
    if code != ExitCode.OK:
        out("a run of an environment whose block is missing stops; store it with: schemaflow secrets set ENV")
    return code
