"""`schemaflow migrate --env ENV [--yes] [--dry-run] [--json]`: run the flow, print its report.

The flow runs in this process; while it does, each of its tasks (preflight, backup, apply, verify)
has a live line on a terminal fed by the run's log records and by db.progress (pg_dump's size so
far, the plan step running): cli/console.py. Then the run's Markdown report, rendered; with --json
only the flow's summary (or the error) as JSON.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cli.console import STARTING, LiveSteps, markdown, out, out_indented, print_json
from cli.exit_codes import ExitCode
from cli.prefect_server import flow_run_in_cli, prepare_prefect
from cli.target import (
    add_allow_lint_argument,
    add_scratch_argument,
    add_target_arguments,
    confirmation_source,
    environment_target,
    warn_about,
)
from db.connection.environments import Environment, get_environment, scratch_setting
from db.connection.target import Target
from db.connection.urls import mask_url
from db.deploy.confirmation import CONFIRMATION_HINT
from db.errors import CheckFailed, ConfigError, SchemaflowError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("migrate", help="deploy the master schema: preflight, backup, apply, verify")
    add_target_arguments(parser, env_required=True)
    parser.add_argument("--yes", action="store_true", help="confirm (required for production)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="apply inside a transaction that is rolled back; print the planned changes",
    )
    parser.add_argument("--backup", action="store_true", help="take a backup even where not required")
    parser.add_argument(
        "--skip-expectations",
        action="store_true",
        help="skip the Great Expectations suites during verification",
    )
    parser.add_argument("--schema-file", metavar="PATH", help="apply this file instead of the master schema")
    parser.add_argument(
        "--allow-hazard",
        action="append",
        default=[],
        metavar="KIND",
        help="let the plan run steps with this hazard (rewrites_table, blocks_writes, ...); repeatable",
    )
    add_allow_lint_argument(parser)
    parser.add_argument(
        "--plan-checksum",
        metavar="C",
        help="apply only the plan with this checksum (from `schemaflow plan --json`); refuse any other",
    )
    add_scratch_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the run's summary as JSON, no report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Everything that can be refused without Prefect or a connection is refused here, in this order:
    # the environment's name, the target (TLS rule, a Secret block that cannot be read), the schema file.
    env = get_environment(args.env)
    target = environment_target(env, args.database_url)
    warn_about(target)
    from db.schema.precheck import check_schema_file

    check_schema_file(args.schema_file, args.allow_lint)
    from db.deploy.hazards import allowed_hazards

    allowed_hazards(args.allow_hazard)  # an unknown kind fails here, before Prefect starts
    if args.plan_checksum and args.dry_run:
        # A dry run would plan afresh and ignore the pin: say so rather than seem to check it.
        raise ConfigError(
            "--plan-checksum pins the plan a real run applies; a --dry-run does not check it",
            hint="drop --dry-run to apply that plan, or run `schemaflow plan --json` to compare checksums",
        )
    # With require_approval (or a pinned plan) the question is about the plan, asked once it is shown.
    approval = (env.require_approval or bool(args.plan_checksum)) and not args.dry_run
    needs_question = env.require_confirmation and not args.dry_run and not approval
    question = f"You are about to migrate {env.name!r} at {target.masked}: {env.description}"
    confirmed_by = confirmation_source(args.yes, question if needs_question else None)
    if needs_question and not confirmed_by:
        raise CheckFailed(
            f"environment {env.name!r} requires confirmation; nothing was changed",
            hint=f"re-run with --yes ({CONFIRMATION_HINT})",
        )
    plan_checksum = None
    if approval:
        plan_checksum, confirmed_by = approve_plan_on_cli(env, target, args)
    prepare_prefect(debug=args.debug)
    from prefect import tags
    from pydantic import SecretStr

    from flows.migrate import migrate  # Prefect's import is slow; only pay it for a real run
    from tasks.naming import run_tags

    clock, started = time.monotonic(), time.time()
    steps = LiveSteps(enabled=not args.json)
    with tags(*run_tags(env.name)), steps, steps.following_prefect(), flow_run_in_cli():
        steps.start(STARTING, "starting the flow run")
        state = migrate(
            environment=env.name,
            confirm=bool(confirmed_by),
            confirmed_by=confirmed_by or None,
            dry_run=args.dry_run,
            # As SecretStr Prefect stores the parameter as '**********'; a plain str would be stored as is.
            database_url=SecretStr(args.database_url) if args.database_url else None,
            backup_anyway=args.backup,
            run_expectations=not args.skip_expectations,
            schema_file=args.schema_file,
            allow_hazards=args.allow_hazard or None,
            allow_lint=args.allow_lint or None,
            plan_checksum=plan_checksum,
            scratch_url=SecretStr(args.scratch_url) if args.scratch_url else None,
            return_state=True,
        )
    seconds = time.monotonic() - clock
    if args.json:
        return _print_json(env, state, seconds)
    _print_report(env, started)
    if state.is_completed():
        unproven = state.result().get("not_rehearsed") or []
        caveat = (
            f", except {len(unproven)} step(s) it could not rehearse ({', '.join(unproven)}; the report "
            "says why)"
            if unproven
            else ""
        )
        out(
            f"migrate {env.name}: {'dry run ' if args.dry_run else ''}done in {seconds:.1f} s{caveat}; "
            f"report also in {env.report_log}; history: schemaflow history --env {env.name}"
        )
        return ExitCode.OK
    state.result(raise_on_failure=True)  # re-raises the flow's SchemaflowError: main() prints it
    return ExitCode.FAILED


def _print_json(env: Environment, state, seconds: float) -> int:  # type: ignore[no-untyped-def]
    """The flow's summary as JSON; a failed run's error (and its report's path) the same way."""
    if state.is_completed():
        print_json({**state.result(), "seconds": round(seconds, 2)})
        return ExitCode.OK
    try:
        state.result(raise_on_failure=True)
    except SchemaflowError as exc:
        print_json(
            {
                "environment": env.name,
                "outcome": "failed",
                "error": mask_url(exc.message),
                "hint": mask_url(exc.hint or ""),
                "exit_code": exc.exit_code,
                "report_log": str(env.report_log),
                "seconds": round(seconds, 2),
            }
        )
        exc.json_printed = True  # type: ignore[attr-defined]  # main() prints only the stderr line
        raise
    print_json(
        {"environment": env.name, "outcome": str(state.type.value).lower(), "seconds": round(seconds, 2)}
    )
    return ExitCode.FAILED


def approve_plan_on_cli(env: Environment, target: Target, args: argparse.Namespace) -> tuple[str, str]:
    """Show the plan, then take its approval: --plan-checksum, --yes / SKIP_CONFIRMATION, or a typed yes.

    Returns (the approved plan's checksum, how it was approved). The run recomputes the plan and
    refuses to change anything when it is not this one.
    """
    from db.plan.database import plan_database
    from db.plan.render import render_text
    from db.schema.master_file import read_schema

    plan = plan_database(
        target.url, read_schema(args.schema_file), scratch_url=scratch_setting(env, args.scratch_url),
        connect_timeout=env.connect_timeout,
    )  # fmt: skip
    out_indented(f"The plan for {env.name!r} at {target.masked}:\n{render_text(plan)}\n")
    if args.plan_checksum:
        if args.plan_checksum != plan.checksum:
            raise CheckFailed(
                f"the plan is {plan.checksum[:12]}, not the approved {args.plan_checksum[:12]}: the database "
                "or the master file changed since it was reviewed; nothing was changed",
                hint=f"review the new plan (schemaflow plan --env {env.name} --json) and pass its checksum",
            )
        return plan.checksum, "--plan-checksum"
    if plan.is_empty:
        return plan.checksum, "empty plan: nothing to approve"
    question = f"Apply this plan ({plan.checksum[:12]}, {len(plan.steps)} step(s)) to {env.name!r}?"
    source = confirmation_source(args.yes, question)
    if not source:
        raise CheckFailed(
            f"plan {plan.checksum[:12]} for {env.name!r} was not approved; nothing was changed",
            hint="read the plan above; approve with --yes, or pin it with --plan-checksum " + plan.checksum,
        )
    return plan.checksum, source


def _print_report(env: Environment, started: float) -> None:
    """Render the Markdown report this run wrote (never an older run's)."""
    try:
        if env.report_log.stat().st_mtime >= started - 1:
            markdown(env.report_log.read_text(encoding="utf-8"))
            return
    except OSError:
        pass
    out(f"(this run wrote no report to {env.report_log}; see the Prefect run's logs)")
