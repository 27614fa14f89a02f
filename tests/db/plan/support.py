"""Helpers for the planner tests: a migrated database per test, psql, and the converge loop."""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from db.catalog.drift import DriftReport, check_drift
from db.connection.urls import libpq_subprocess_args, with_database
from db.local.cluster import LocalCluster
from db.plan.render import render_script
from tests.conftest import drop_database
from tests.support.seeded import copy_database


@contextmanager
def copy_of(cluster: LocalCluster, template_url: str) -> Iterator[str]:
    """A copy of the template database for one test (dropped afterwards)."""
    name = f"plan_{uuid.uuid4().hex[:12]}"
    copy_database(cluster, template_url.rsplit("/", 1)[1].split("?")[0], name)
    url = with_database(template_url, name)
    try:
        yield url
    finally:
        drop_database(cluster, url)


def psql_file(url: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` with psql -v ON_ERROR_STOP=1 -f, as a reviewer would; raise with psql's output."""
    conninfo, env = libpq_subprocess_args(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", handle.name],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise AssertionError(f"psql failed ({done.returncode}):\n{done.stderr}\n--- script ---\n{script}")
    return done


def run(url: str, statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]


def converge(url: str, schema_sql: str, **drift_args: object) -> tuple[DriftReport, DriftReport, str]:
    """Drift, apply its --sql script with psql, drift again: (first report, second report, script)."""
    first = check_drift(url, schema_sql=schema_sql, **drift_args)  # type: ignore[arg-type]
    assert first.plan is not None
    script = render_script(first.plan)
    psql_file(url, script)
    second = check_drift(url, schema_sql=schema_sql, **drift_args)  # type: ignore[arg-type]
    return first, second, script


def found(report: DriftReport) -> set[tuple[str, str, str]]:
    return {(d.status, d.kind, d.name) for d in report.differences}


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
