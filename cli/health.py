"""`schemaflow health --env ENV | --database-url URL [--json] [--full] [--window-days N] [--no-gx]`.

Exit 0 when every health check and expectation passes, 1 when any fails (each failure says what is
missing and how to fix it), 2 on usage or config errors. Runs directly (no Prefect run); the
`schema_health` flow is the scheduled version with artifacts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cli.console import console, out, print_raw, status, step, table
from cli.exit_codes import ExitCode
from cli.target import add_target_arguments, command_target, warn_about
from db.connection.urls import mask_url
from db.errors import ConfigError

if TYPE_CHECKING:
    from db.deploy.health import HealthCheck


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("health", help="check the schema's health and run the data-quality suites")
    add_target_arguments(parser, env_required=False)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--full", action="store_true", help="validate every row, not just the recent window")
    parser.add_argument(
        "--window-days",
        type=int,
        default=7,
        metavar="N",
        help="validate the time series of the last N days (default 7)",
    )
    parser.add_argument("--no-gx", action="store_true", help="catalog health checks only (about a second)")
    parser.add_argument(
        "--data-docs-dir", metavar="DIR", help="where to build GX Data Docs (default .local/gx-docs)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.window_days < 1:
        raise ConfigError(f"--window-days must be at least 1, not {args.window_days}")
    target = command_target(args.env, args.database_url, command="health")
    warn_about(target)
    url = target.url
    from db.connection.connect import connect
    from db.deploy.health import run_health_checks

    started = time.perf_counter()
    with connect(url, autocommit=True) as conn:
        checks = run_health_checks(conn, environment=args.env)
    health_seconds = time.perf_counter() - started
    suites = None
    if not args.no_gx:
        from expectations.runner import run_suites  # GX import costs seconds: only when asked for

        docs = Path(args.data_docs_dir) if args.data_docs_dir else None
        window = "every row" if args.full else f"the last {args.window_days} days"
        with step("GX suites", f"validating {window}", enabled=not args.json):
            suites = run_suites(
                url,
                window_days=args.window_days,
                full=args.full,
                data_docs_dir=docs,
                environment=args.env,
            )
    ok = all(c.ok for c in checks) and (suites is None or suites.success)
    if args.json:
        payload = {
            "target": mask_url(url),
            "healthy": ok,
            "health_seconds": round(health_seconds, 3),
            "checks": [c.as_dict() for c in checks],
            "expectations": None
            if suites is None
            else {
                "success": suites.success,
                "seconds": round(suites.seconds, 2),
                "mode": suites.mode,
                "data_docs_index": str(suites.data_docs_index) if suites.data_docs_index else None,
                "rows": suites.rows,
            },
        }
        print_raw(mask_url(json.dumps(payload, indent=2, default=str)))
    else:
        print_checks(checks, health_seconds)
        if suites is not None:
            out("")
            print_suites(suites)
    return ExitCode.OK if ok else ExitCode.FAILED


def print_checks(checks: list[HealthCheck], seconds: float) -> None:
    """A table of health checks (coloured status), then what to do for each failure or warning."""
    failed = [c for c in checks if not c.ok]
    out(f"schema health: {len(checks) - len(failed)}/{len(checks)} checks passed ({seconds:.2f} s)")
    rows = table("", "check", "detail")
    for c in checks:
        rows.add_row(status(c.status), c.name, mask_url(c.detail))
    console().print(rows)
    flagged = [c for c in checks if c.status in ("fail", "warn")]
    if flagged:
        out("")
        out("What to do:")
        for c in flagged:
            out(f"  {c.name} ({c.status}): {mask_url(c.detail)}\n    fix: {mask_url(c.fix)}")


def print_suites(report) -> None:  # type: ignore[no-untyped-def]
    """A line per failed expectation (all of them pass otherwise), the timing and the Data Docs path."""
    failed = report.failed_rows()
    out(
        f"expectations: {len(report.rows) - len(failed)}/{len(report.rows)} met "
        f"({report.seconds:.1f} s, {report.mode} mode)"
    )
    rows = table("", "suite / expectation", "observed")
    for r in report.rows:
        if r["expectation"] == "not applicable":
            rows.add_row(status("n/a"), r["suite"], str(r["observed_value"]))
    for r in failed:
        observed = mask_url(str(r["observed_value"]))
        if r.get("unexpected_count") and "unexpected" not in observed:  # named rows say it already
            observed += f", {r['unexpected_count']} unexpected"
        rows.add_row(status("fail"), f"{r['suite']} / {r['expectation']}", observed)
    if rows.row_count:
        console().print(rows)
    if report.data_docs_index:
        out(f"Data Docs: {report.data_docs_index}")
