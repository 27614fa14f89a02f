"""`schemaflow enforce-retention --env ENV [--dry-run]`: remove what lies outside the declared windows.

The same function the enforce-retention flow runs on its schedule (db/deploy/retention.py): whole
chunks older than each table's window on hypertables, bounded batches of rows on plain tables. With
--dry-run it names the chunks (or counts the rows) that would go and changes nothing.
"""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import TYPE_CHECKING

from cli.console import console, out, print_json, table
from cli.exit_codes import ExitCode
from cli.target import add_target_arguments, environment_target, warn_about
from db.connection.environments import get_environment

if TYPE_CHECKING:
    from db.deploy.retention import ExpiredChunk


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "enforce-retention",
        help="drop the chunks (or delete the rows) older than the master file's retention windows",
    )
    add_target_arguments(parser, env_required=True)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="name the chunks / count the rows that would go; change nothing",
    )
    parser.add_argument("--json", action="store_true", help="print what the run did (or would do) as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from db.connection.connect import connect
    from db.deploy.retention import enforce_retention

    env = get_environment(args.env)
    resolved = environment_target(env, args.database_url)
    warn_about(resolved)
    with connect(resolved.url, autocommit=True) as conn:
        report = enforce_retention(
            conn, environment=env.name, dry_run=args.dry_run, lock_timeout=env.lock_timeout
        )
    left = sum(t.left_for_next_run for t in report.tables)
    if args.json:
        print_json({"target": str(resolved), **report.as_dict()})
        return ExitCode.FAILED if left else ExitCode.OK
    from db.plan.retention_hazards import estimated_rows

    verb = "would remove" if report.dry_run else "removed"
    for t in report.tables:
        cutoff = f"{t.cutoff.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        if t.method == "missing":
            out(f"{t.table}: declared (keep {t.keep_for}) but the table does not exist here")
        elif t.method == "batched_delete":
            out(f"{t.table} (keep {t.keep_for}, plain table): {verb} {t.rows:,} row(s) older than {cutoff}")
            if t.rows_left_locked:
                out("  a batch's lock did not come within lock_timeout: the next run deletes the rest")
        else:
            done = len(t.chunks) if report.dry_run else t.chunks_dropped
            unanalyzed = sum(1 for c in t.chunks if c.estimated_rows < 0)
            rows = estimated_rows(t.rows, unanalyzed, len(t.chunks))
            out(
                f"{t.table} (keep {t.keep_for}): {verb} {done} whole chunk(s) ending by {cutoff}, "
                f"{rows} by the statistics"
            )
            _chunk_table(t.chunks, report.dry_run)
            if t.chunks_left:
                out(f"  {t.chunks_left} chunk(s) stayed locked past lock_timeout: the next run drops them")
    note = "dry run: nothing was changed" if report.dry_run else "recorded in schemaflow.retention_runs"
    out(f"{resolved}: {note} ({report.seconds:.3f} s)")
    return ExitCode.FAILED if left else ExitCode.OK


def _chunk_table(chunks: list[ExpiredChunk], dry_run: bool) -> None:
    if not chunks:
        return
    # The schema (always TimescaleDB's internal one) goes in the title, so a row fits 80 columns.
    schemas = sorted({c.name.split(".", 1)[0] for c in chunks})
    columns = ["chunk", "from (UTC)", "to (UTC)", "rows (est.)", *([] if dry_run else ["dropped"])]
    rows = table(*columns, title=f"  chunks in {', '.join(schemas)}")
    for c in chunks:
        estimate = f"{c.estimated_rows:,}" if c.estimated_rows >= 0 else "unknown"
        start, end = (f"{t.astimezone(UTC):%Y-%m-%d %H:%M}" for t in (c.range_start, c.range_end))
        done = [] if dry_run else ["yes" if c.dropped else "no (locked)"]
        rows.add_row(c.name.split(".", 1)[1], start, end, estimate, *done)
    console().print(rows)
