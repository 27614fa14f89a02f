"""`schemaflow drift --env ENV | --database-url URL [--scratch-url URL] [--json | --sql]`: database vs file.

Exit 0 when the database matches the master file, 1 when anything differs, 2 on usage or config errors.
`--sql` prints the planner's plan as a psql script (db/plan/render.py): the transactional steps inside
one BEGIN ... COMMIT, the online ones after it; `psql -v ON_ERROR_STOP=1 -f` of it converges.
Runs the check directly (no Prefect run), so it answers in seconds; the `schema_drift` flow is the
scheduled version with an artifact.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.padding import Padding
from rich.text import Text

from cli.console import console, out, print_json, print_raw, table
from cli.exit_codes import ExitCode
from cli.target import add_scratch_argument, add_target_arguments, command_target, warn_about
from db.connection.target import target_for_url

if TYPE_CHECKING:
    from db.catalog.drift import DriftReport

COLUMNS = ("severity", "status", "kind", "name", "detail")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("drift", help="show how a database differs from the master schema file")
    add_target_arguments(parser, env_required=False)
    add_scratch_argument(parser)
    parser.add_argument(
        "--schema-file", metavar="PATH", help="compare with this file instead of the master schema"
    )
    parser.add_argument(
        "--allow-destroy",
        action="store_true",
        help="include steps that drop tables or columns holding rows (left out and noted otherwise)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    output.add_argument(
        "--sql",
        action="store_true",
        help="print only the plan as a psql script to review (never run by schemaflow)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    target = command_target(args.env, args.database_url, command="drift")
    warn_about(target)
    url = target.url
    scratch = args.scratch_url or (target.environment.scratch_url if target.environment else None)
    if scratch and "://" in scratch:  # the same TLS rule for the scratch server, before either is touched
        warn_about(target_for_url(scratch))
    from db.catalog.drift import check_drift
    from db.schema.master_file import read_schema

    report = check_drift(
        url,
        scratch_url=scratch,
        schema_sql=read_schema(args.schema_file) if args.schema_file else None,
        exclude_schemas=target.environment.exclude_schemas if target.environment else (),
        allow_destroy=args.allow_destroy,
    )
    if args.json:
        print_json(report.as_dict())
    elif args.sql:
        print_raw(render_script(report))  # a psql script: never wrapped
    else:
        print_report(report)
    return ExitCode.FAILED if report.has_drift else ExitCode.OK


SEVERITY_STYLES = {"high": "bold red", "medium": "yellow", "low": "dim"}


def print_report(report: DriftReport) -> None:
    """A table of the differences (fitted to the terminal) followed by the suggested SQL for each."""
    from db.plan.quoting import one_line

    head = (
        f"target {report.target} (mode {report.mode}); expected side built in {report.scratch}; "
        f"{report.seconds:.1f} s"
    )
    if not report.has_drift:
        out(f"no drift: the database matches the master file\n{head}")
        return
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts().items()))
    out(f"drift: {len(report.differences)} differences ({counts})")
    out(head)
    out("")
    rows = table(*(c.upper() for c in COLUMNS))
    for d in report.differences:
        cells = dict(d.as_dict(), name=one_line(d.name), detail=one_line(d.detail))
        severity = Text(cells["severity"], style=SEVERITY_STYLES.get(cells["severity"], ""))
        rows.add_row(severity, *(cells[c] for c in COLUMNS[1:]))
    console().print(rows)
    out("")
    out("Suggested SQL (review before running; nothing was applied):")
    for i, diff in enumerate(report.differences, 1):
        out(one_line(f"-- [{i}] {diff.status} {diff.kind} {diff.name}"))
        # Indented as a block, so a statement wrapped at the terminal's edge stays visibly one statement.
        console().print(Padding(Text(diff.suggestion), (0, 0, 0, 2)))


def render_script(report: DriftReport) -> str:
    """The plan as one psql script; its header names the target and what was left out of the plan."""
    from db.plan.quoting import one_line
    from db.plan.render import render_script as render_plan_script

    assert report.plan is not None
    head = one_line(f"-- schemaflow drift: {len(report.differences)} differences in {report.target}")
    notes = [one_line(f"-- note: {note}") for note in report.plan.notes]
    return "\n".join([head, *notes, render_plan_script(report.plan)])
