"""`schemaflow plan --from-file BASE [--to-file HEAD] | --base-ref REF`: what a change does, no live database.

Both sides are built on a scratch server (the embedded local cluster, or --scratch-url) in two
databases made for this command and dropped afterwards (db/run/change_plan.py). `--stats-from URL` reads
sizes, chunks and rows from a live database, read-only. `--env ENV` marks the hazards ENV would refuse.
Exit 0 when the change plans no step, adds no one-off and lints clean; 1 when it does; 2 on any error
(a missing file, a revision git does not have, a file that does not build, naming its line).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from cli.console import print_raw, step
from cli.exit_codes import ExitCode
from cli.local_db import PROJECT_ROOT
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT
from db.connection.environments import Environment, get_environment
from db.errors import ConfigError, SchemaflowError
from db.run.change_plan import Side
from db.schema.master_file import MASTER_SCHEMA, read_schema
from db.versions.files import MigrationFile, discover_migrations
from db.versions.run import DEFAULT_LIMITS, Limits


def run_change(args: argparse.Namespace) -> int:
    """Exit 1 means "the change does something", so nothing unexpected may exit 1: a crash is an error
    (2), or a pull-request check would read it as a plan with steps and pass."""
    try:
        return _run_change(args)
    except SchemaflowError:
        raise
    except Exception as exc:
        if args.debug:
            raise
        from db.connection.urls import mask_url

        what = f"unexpected {type(exc).__name__}: {mask_url(str(exc))}"
        raise ConfigError(
            f"the plan of the change could not be made: {what}",
            hint="re-run with --debug for the traceback and report it",
        ) from exc


def _run_change(args: argparse.Namespace) -> int:
    _refuse_mixed(args)
    env = get_environment(args.env) if args.env else None
    fmt = "json" if args.json else args.format
    from db.run.change_plan import plan_change, with_environment  # psycopg and the planner: only when run
    from db.run.render_change import render_change_json, render_change_markdown, render_change_text

    with tempfile.TemporaryDirectory(prefix="schemaflow-base-one-offs-") as folder:
        base, head = read_sides(args, env, Path(folder))
        scratch = args.scratch_url or local_scratch_url()
        with step("plan", "building both sides on the scratch server", enabled=fmt == "text"):
            try:
                change = plan_change(
                    base, head, scratch_url=scratch, stats_from=args.stats_from,
                    limits=_limits(env), allow_out_of_order=bool(env and env.allow_out_of_order),
                    allow_destroy=args.allow_destroy, exclude_schemas=env.exclude_schemas if env else (),
                    connect_timeout=env.connect_timeout if env else DEFAULT_CONNECT_TIMEOUT,
                )  # fmt: skip
            except SchemaflowError as exc:
                if exc.exit_code != ExitCode.FAILED:
                    raise
                # A one-off refused on BASE (edited, out of order, unacknowledged) means no plan: an error.
                raise ConfigError(exc.message, hint=exc.hint) from None
    if env:
        from db.deploy.hazards import allowed_hazards

        allowed = {str(h) for h in allowed_hazards(env.allow_hazards)}
        change = with_environment(change, env.name, allowed)
    render = {"json": render_change_json, "markdown": render_change_markdown, "text": render_change_text}
    print_raw(render[fmt](change))
    return ExitCode.FAILED if change.has_changes else ExitCode.OK


def read_sides(args: argparse.Namespace, env: Environment | None, folder: Path) -> tuple[Side, Side]:
    """BASE and HEAD: their texts, labels and one-offs (BASE's copied from git into `folder`)."""
    head_dir = args.migrations_dir or (env.migrations_dir if env else None)
    if args.base_ref:
        from db.schema.git_revision import (
            migrations_at_revision,
            read_at_revision,
            repository_root,
            resolve_revision,
        )

        root = repository_root(Path.cwd())
        commit = resolve_revision(root, args.base_ref)
        head_path = Path(args.to_file) if args.to_file else root / args.schema_path
        head_dir = Path(head_dir) if head_dir else head_path.parent
        head = Side(str(args.to_file or args.schema_path), read_schema(head_path), _one_offs(head_dir))
        in_repo = _inside(head_dir, root) or str(Path(args.schema_path).parent)
        base = Side(
            f"{args.base_ref}:{args.schema_path}",
            read_at_revision(root, commit, args.schema_path, args.base_ref),
            tuple(migrations_at_revision(root, commit, in_repo, folder)),
        )
        return base, head
    head_path = Path(args.to_file) if args.to_file else MASTER_SCHEMA
    head = Side(str(head_path), read_schema(head_path), _one_offs(head_dir))
    base_dir = args.from_migrations or head_dir
    return Side(args.from_file, read_schema(args.from_file), _one_offs(base_dir)), head


def local_scratch_url() -> str:
    """The embedded local cluster's maintenance database; ConfigError when it is not running."""
    from db.local.project import project_cluster

    cluster = project_cluster(PROJECT_ROOT)
    if not cluster.status():
        raise ConfigError(
            "the plan of a change builds both sides on a scratch server: the embedded local cluster is "
            "not running and --scratch-url was not given",
            hint="start it with `schemaflow local-db start`, or pass --scratch-url URL (a server with "
            "TimescaleDB where the role may CREATE DATABASE)",
        )
    return cluster.url("postgres")


def _refuse_mixed(args: argparse.Namespace) -> None:
    if args.database_url:
        raise ConfigError(
            "--database-url plans a live database; the plan of a change builds both sides itself",
            hint="leave out --database-url; --stats-from URL reads a live database's sizes (read-only)",
        )
    if args.from_file and args.base_ref:
        raise ConfigError("--from-file and --base-ref both name the base", hint="pass one of them")
    if not (args.from_file or args.base_ref):
        raise ConfigError("--to-file needs a base", hint="pass --from-file BASE or --base-ref REF")
    if args.schema_file:
        raise ConfigError("--schema-file is for a live database's plan", hint="name HEAD with --to-file")


def _one_offs(directory: Path | str | None) -> tuple[MigrationFile, ...]:
    return tuple(discover_migrations(directory)) if directory else ()


def _inside(path: Path, root: Path) -> str:
    """`path` relative to `root` when it lies inside it, else ""."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return ""


def _limits(env: Environment | None) -> Limits:
    return Limits(env.lock_timeout, env.statement_timeout, env.lock_retries) if env else DEFAULT_LIMITS
