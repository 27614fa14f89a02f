"""`schemaflow history --env ENV [--json]`: the migrate runs recorded in the target database, newest first."""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC
from typing import Any

from cli.console import coloured, console, out, print_json, table
from cli.exit_codes import ExitCode
from cli.target import add_target_arguments, environment_target, warn_about
from db.connection.environments import get_environment
from db.connection.urls import mask_url

# How many runs of all environments to read when this one has none, to say whose runs the table holds.
OTHERS_SCAN_LIMIT = 1000


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("history", help="list the migrate runs recorded in an environment's database")
    add_target_arguments(parser, env_required=True)
    parser.add_argument("--limit", type=int, default=20, help="how many runs to show (default 20)")
    parser.add_argument(
        "--all-environments",
        action="store_true",
        help="also show runs recorded under other environment names",
    )
    parser.add_argument("--json", action="store_true", help="print the runs as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    env = get_environment(args.env)
    resolved = environment_target(env, args.database_url)
    warn_about(resolved)
    from db.connection.connect import connect
    from db.deploy.history import HISTORY_TABLE_EXISTS_SQL, list_runs

    with connect(resolved.url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        runs = list_runs(conn, None if args.all_environments else env.name, limit=args.limit)
        others: Counter[str] = Counter()
        exists = bool((conn.execute(HISTORY_TABLE_EXISTS_SQL).fetchone() or [False])[0])
        if not runs and exists and not args.all_environments:
            others = Counter(r["environment"] for r in list_runs(conn, None, limit=OTHERS_SCAN_LIMIT))
    if args.json:
        print_json(
            {
                "target": mask_url(str(resolved)),
                "environment": None if args.all_environments else env.name,
                "table_exists": exists,
                "runs": [_as_json(r) for r in runs],
                "other_environments": dict(others),
            }
        )
        return ExitCode.OK
    out(f"migration history of {resolved}")
    if not runs:
        out(f"  {_why_empty(env.name, exists, others, args.all_environments)}")
        return ExitCode.OK
    rows = table("id", "started (UTC)", "env", "outcome", "changed", "secs", "who / commit")
    for r in runs:
        commit = _short_commit(r["git_commit"])
        who = f"{r['os_user'] or '?'}@{r['client_host'] or '?'} as {r['db_user']} {commit}"
        if r["error_message"]:
            who += f"\nerror: {mask_url(r['error_message'])}"
        rows.add_row(
            str(r["id"]),
            f"{r['started_at'].astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            r["environment"],
            coloured(r["outcome"]),
            str(r["objects_changed"]),
            f"{float(r['duration_seconds']):.2f}",
            who,
        )
    console().print(rows)
    return ExitCode.OK


def _why_empty(name: str, exists: bool, others: Counter[str], all_environments: bool) -> str:
    """Why no run is listed: no table yet, an empty table, or runs of other environments only."""
    if not exists:
        return "no runs recorded: schemaflow.migration_history does not exist yet (no migrate ran here)"
    if all_environments or not others:
        return "no runs recorded: schemaflow.migration_history is empty"
    held = ", ".join(f"{count} of {other!r}" for other, count in others.most_common())
    return (
        f"no runs of environment {name!r} recorded; the table holds runs of other environments "
        f"({held}): see them with --all-environments"
    )


def _as_json(row: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {k: (float(v) if k == "duration_seconds" else v) for k, v in row.items()}
    if row.get("error_message"):
        shown["error_message"] = mask_url(str(row["error_message"]))
    return shown


def _short_commit(commit: str | None) -> str:
    """The first 10 characters of the commit, keeping a "-dirty" mark."""
    from db.deploy.history import DIRTY_SUFFIX

    if not commit:
        return "-"
    dirty = commit.endswith(DIRTY_SUFFIX)
    return commit[:10] + (DIRTY_SUFFIX if dirty else "")
