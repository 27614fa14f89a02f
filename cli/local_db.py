"""`schemaflow local-db start|stop|status|url [--json]`: the embedded local PostgreSQL + TimescaleDB."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.console import out, print_json, print_raw
from cli.exit_codes import ExitCode
from db.connection.urls import mask_url
from db.local.project import project_cluster

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("local-db", help="start, stop or describe the embedded local database")
    parser.add_argument("action", choices=["start", "stop", "status", "url"])
    parser.add_argument("--json", action="store_true", help="print the cluster's state as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cluster = project_cluster(PROJECT_ROOT)
    if args.action == "url":
        # The real URL, password included, for scripts: `psql "$(schemaflow local-db url)"`.
        if args.json:
            print_json({"url": cluster.url()})
        else:
            print_raw(cluster.url())
        return ExitCode.OK
    if args.action == "start":
        started = cluster.start()
        cluster.ensure_database()
        message = f"local database {'started' if started else 'already running'}"
        running, code = True, ExitCode.OK
    elif args.action == "stop":
        stopped = cluster.stop()
        message = "local database stopped" if stopped else "local database was not running"
        running, code = False, ExitCode.OK
    else:
        running = cluster.status()
        message = f"local database {'running' if running else 'stopped'} on 127.0.0.1:{cluster.port}"
        code = ExitCode.OK if running else ExitCode.NOT_RUNNING
    if args.json:
        print_json(
            {
                "action": args.action,
                "running": running,
                "port": cluster.port,
                "datadir": str(cluster.datadir),
                "url": mask_url(cluster.url()),
                "message": message,
            }
        )
    elif args.action == "start":
        out(f"{message}: {mask_url(cluster.url())} (data in {cluster.datadir})")
    elif args.action == "status":
        out(f"{message} (data in {cluster.datadir})")
    else:
        out(message)
    return code
