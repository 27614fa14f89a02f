"""A migrated, seeded template database per test cluster, cloned per test that needs to corrupt it.

Applying the master file and seeding takes seconds; `CREATE DATABASE ... TEMPLATE` takes a fraction.
The template is built once per cluster (cached here, so test modules in different packages share it).
"""

from __future__ import annotations

import time
import uuid

import psycopg
from psycopg import sql

from db.local.cluster import LocalCluster
from db.local.seed import refresh_metrics_daily, seed_data
from db.schema.master_file import read_schema
from tests.support.master_file import execute_master_file

TEMPLATE_SCALE = {"tenants": 3, "events": 10_000, "days": 30, "seed": 7}
_templates: dict[int, str] = {}


def apply_and_seed(url: str, **scale: int) -> None:
    """Apply the master file in one transaction, seed it, and refresh metrics_daily."""
    with psycopg.connect(url) as conn:
        conn.execute("SET client_min_messages = warning")
        execute_master_file(conn, read_schema())  # the TSL lane takes no 64 KiB query string
    with psycopg.connect(url) as conn:
        seed_data(conn, **{**TEMPLATE_SCALE, **scale})
    with psycopg.connect(url, autocommit=True) as conn:
        refresh_metrics_daily(conn)


def seeded_template(cluster: LocalCluster) -> str:
    """The name of this cluster's migrated and seeded template database (built on first use)."""
    if cluster.port in _templates:
        return _templates[cluster.port]
    name = f"tmpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    apply_and_seed(cluster.url(name))
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        # TimescaleDB's scheduler keeps a connection to every database with the extension; a template
        # must have none, so forbid connections and end the ones there are.
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    _templates[cluster.port] = name
    return name


def clone_template(cluster: LocalCluster, prefix: str = "h") -> str:
    """A new database copied from the seeded template; returns its URL (drop it with drop_database)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy_database(cluster, seeded_template(cluster), name)
    return cluster.url(name)


def copy_database(cluster: LocalCluster, template: str, name: str) -> None:
    """CREATE DATABASE name TEMPLATE template, ending the sessions that keep the template busy."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        for attempt in range(20):
            try:
                conn.execute(statement)
                return
            except psycopg.errors.ObjectInUse:
                # TimescaleDB's scheduler or an autovacuum worker may be visiting the template.
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (template,)
                )
                time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"could not copy database {template}: it stays busy")
