"""`schemaflow local-db start|stop|status|url`: the embedded local PostgreSQL + TimescaleDB cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from db.connection.urls import mask_url
from db.local.cluster import cluster_from_env

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("local-db", help="start, stop or describe the embedded local database")
    parser.add_argument("action", choices=["start", "stop", "status", "url"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cluster = cluster_from_env(PROJECT_ROOT)
    if args.action == "start":
        started = cluster.start()
        cluster.ensure_database()
        state = "started" if started else "already running"
        print(f"local database {state}: {mask_url(cluster.url())} (data in {cluster.datadir})")
        return 0
    if args.action == "stop":
        print("local database stopped" if cluster.stop() else "local database was not running")
        return 0
    if args.action == "status":
        running = cluster.status()
        print(
            f"local database {'running' if running else 'stopped'} on 127.0.0.1:{cluster.port} "
            f"(data in {cluster.datadir})"
        )
        return 0 if running else 3
    # `url` prints the real URL, password included, for scripts: `psql "$(schemaflow local-db url)"`.
    print(cluster.url())
    return 0
