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

from cli.target import add_target_arguments, command_target, warn_about
from db.connection.urls import mask_url
from db.errors import ConfigError

if TYPE_CHECKING:
    from db.deploy.health import HealthCheck

DETAIL_WIDTH = 90


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
        checks = run_health_checks(conn)
    health_seconds = time.perf_counter() - started
    suites = None
    if not args.no_gx:
        from expectations.runner import run_suites  # GX import costs seconds: only when asked for

        docs = Path(args.data_docs_dir) if args.data_docs_dir else None
        suites = run_suites(url, window_days=args.window_days, full=args.full, data_docs_dir=docs)
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
        print(mask_url(json.dumps(payload, indent=2, default=str)))
    else:
        print(render_checks(checks, health_seconds))
        if suites is not None:
            print()
            print(render_suites(suites))
    return 0 if ok else 1


def render_checks(checks: list[HealthCheck], seconds: float) -> str:
    """A table of health checks, then what to do for each failure."""
    failed = [c for c in checks if not c.ok]
    width = max(len(c.name) for c in checks)
    lines = [f"schema health: {len(checks) - len(failed)}/{len(checks)} checks passed ({seconds:.2f} s)"]
    lines += [f"  {c.status.upper():<4}  {c.name:<{width}}  {_clip(mask_url(c.detail))}" for c in checks]
    if failed:
        lines += ["", "What to do:"]
        lines += [f"  {c.name}: {mask_url(c.detail)}\n    fix: {mask_url(c.fix)}" for c in failed]
    return "\n".join(lines)


def render_suites(report) -> str:  # type: ignore[no-untyped-def]
    """A line per failed expectation (all of them pass otherwise), the timing and the Data Docs path."""
    failed = report.failed_rows()
    lines = [
        f"expectations: {len(report.rows) - len(failed)}/{len(report.rows)} met "
        f"({report.seconds:.1f} s, {report.mode} mode)"
    ]
    not_applicable = [r for r in report.rows if r["expectation"] == "not applicable"]
    lines += [f"  n/a   {r['suite']}: {r['observed_value']}" for r in not_applicable]
    lines += [
        f"  FAIL  {r['suite']} / {r['expectation']}: observed {_clip(mask_url(str(r['observed_value'])))}"
        + (f", {r['unexpected_count']} unexpected" if r.get("unexpected_count") else "")
        for r in failed
    ]
    if report.data_docs_index:
        lines.append(f"Data Docs: {report.data_docs_index}")
    return "\n".join(lines)


def _clip(text: str) -> str:
    return text if len(text) <= DETAIL_WIDTH else text[: DETAIL_WIDTH - 3] + "..."
