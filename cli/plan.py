"""`schemaflow plan --env ENV | --database-url URL [--schema-file PATH] [--json]`: the steps, not the file.

With `--from-file BASE --to-file HEAD` or `--base-ref REF` it plans a change instead of a database:
both sides are built on a scratch server (cli/plan_change.py, db/run/change_plan.py).

Prints the plan that would make the database match the master file (db/plan/): each step's SQL, the
lock it takes and on which relation, whether it runs in the transaction or online after it, its
hazards, the relation's estimated rows, bytes and chunks, and the plan checksum an approval names.
Nothing is applied. Exit 0 when the plan is empty, 1 when it has steps, 2 on usage or config errors.
"""

from __future__ import annotations

import argparse

from cli.console import out, out_indented, print_raw, step
from cli.exit_codes import ExitCode
from cli.target import (
    add_allow_lint_argument,
    add_scratch_argument,
    add_target_arguments,
    command_target,
    warn_about,
)
from db.errors import ConfigError

CHANGE_SCHEMA_PATH = "db/migrations/99999999999999_master_schema.sql"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("plan", help="show the steps that would make a database match the master file")
    add_target_arguments(parser, env_required=False)
    parser.add_argument(
        "--schema-file", metavar="PATH", help="plan towards this file instead of the master schema"
    )
    add_scratch_argument(parser)
    parser.add_argument(
        "--allow-destroy",
        action="store_true",
        help="include steps that drop tables or columns holding rows (left out and noted otherwise)",
    )
    add_allow_lint_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument(
        "--migrations-dir", metavar="PATH", help="the one-off migrations folder (default: the environment's)"
    )
    add_change_arguments(parser)
    parser.set_defaults(handler=run)


def add_change_arguments(parser: argparse.ArgumentParser) -> None:
    """The plan of a change, file against file, with no live database (cli/plan_change.py)."""
    group = parser.add_argument_group("the plan of a change (no live database)")
    group.add_argument("--from-file", metavar="BASE", help="the master file before the change")
    group.add_argument(
        "--to-file", metavar="HEAD", help="the master file after the change (default: --schema-path's file)"
    )
    group.add_argument(
        "--base-ref", metavar="REF", help="read BASE and its one-offs from this git revision (origin/main)"
    )
    group.add_argument(
        "--schema-path",
        metavar="PATH",
        default=CHANGE_SCHEMA_PATH,
        help=f"the master file's path in the repository, for --base-ref (default {CHANGE_SCHEMA_PATH})",
    )
    group.add_argument(
        "--from-migrations", metavar="DIR", help="BASE's one-off folder with --from-file (default: HEAD's)"
    )
    group.add_argument(
        "--stats-from",
        metavar="URL",
        help="a live database (e.g. a staging replica) read, read-only, for sizes, chunks and data checks",
    )
    group.add_argument(
        "--format", choices=("text", "json", "markdown"), default="text", help="markdown: a PR comment"
    )


def run(args: argparse.Namespace) -> int:
    if args.from_file or args.to_file or args.base_ref:
        from cli.plan_change import run_change  # the plan of a change builds both sides itself

        return run_change(args)
    if args.stats_from or args.from_migrations:
        raise ConfigError(
            "--stats-from and --from-migrations are for the plan of a change",
            hint="add --base-ref REF or --from-file BASE; a live database's plan reads its own sizes",
        )
    target = command_target(args.env, args.database_url, command="plan")
    warn_about(target)
    if target.environment and target.environment.requires_timescaledb:
        from db.run.preflight import refuse_without_timescaledb

        refuse_without_timescaledb(target.url, target.environment)
    from db.schema.precheck import check_schema_file

    schema_text = check_schema_file(args.schema_file, args.allow_lint)  # lint stops a plan like a parse error
    from db.catalog.drift import FileDoesNotApply
    from db.plan.database import plan_database  # imports psycopg and the catalog: only when run
    from db.plan.render import render_json, render_markdown, render_text
    from db.schema.master_file import MASTER_SCHEMA

    as_json = args.json or args.format == "json"
    with step(
        "plan",
        "building the expected schema and comparing catalogs",
        enabled=not as_json and args.format == "text",
    ):
        try:
            plan = plan_database(
                target.url,
                schema_text,
                scratch_url=args.scratch_url
                or (target.environment.scratch_url if target.environment else None),
                allow_destroy=args.allow_destroy,
                exclude_schemas=target.environment.exclude_schemas if target.environment else (),
            )
        except FileDoesNotApply as exc:  # name the file, so "line N" can be opened as it is
            path = args.schema_file or MASTER_SCHEMA
            raise ConfigError(f"{path}: {exc.message}", hint=exc.hint) from None
    from db.versions.listing import pending_listing  # one-offs run before the master's steps

    pending = pending_listing(target, args.migrations_dir)
    if as_json:
        print_raw(pending.with_json(render_json(plan)))
    elif args.format == "markdown":
        print_raw("\n".join([pending.text(), "", render_markdown(plan)]))
    else:
        out_indented(pending.text())
        out_indented(render_text(plan))
        out(f"plan checksum {plan.checksum} (catalog {plan.catalog_checksum[:12]}, mode {plan.mode})")
        if plan.is_empty and pending.files:  # "no changes" above is the master file's; the run has work
            count = len(pending.files)
            out(f"{count} one-off(s) pending: `schemaflow migrate` runs them (exit 1: work is left)")
    return ExitCode.OK if plan.is_empty and not pending.files else ExitCode.FAILED
