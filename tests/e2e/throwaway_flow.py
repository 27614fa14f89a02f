"""A stand-in for flows/migrate.py while it is being written: same name and parameters. NOT the real flow."""

from __future__ import annotations

import os

import psycopg
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from db.credentials import resolve_database_url
from db.environments import get_environment


@flow(name="migrate", flow_run_name="migrate-{environment}")
def migrate(environment: str, confirm: bool = False, dry_run: bool = False, database_url: str | None = None) -> str:
    """Stand-in migrate flow."""
    env = get_environment(environment)
    url = resolve_database_url(env, explicit_url=database_url).url
    if env.require_confirmation and not confirm:  # noqa: SIM102
        raise RuntimeError(f"preflight failed: {environment} requires confirm=true")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS tenants (id int); CREATE TABLE IF NOT EXISTS listener_events (id int)")
    create_markdown_artifact("# SUCCESS: tenants created", key=f"migrate-{environment}-report")
    get_run_logger().info("cwd %s", os.getcwd())
    return "ok"
