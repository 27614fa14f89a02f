"""The master file on PostgreSQL 16, 17 and 18 (plain mode: no TimescaleDB build exists for them here).

Per lane, on one database: migrate (the whole file, then again: nothing changes), seed, plan (empty),
drift (none; then a hand change is found and drift's --sql script, run with psql, puts back what it
may: the dropped index, not the drop of a column that may hold rows), and
the health checks pass. The convergence suite runs per lane in tests/db/plan.
"""

from __future__ import annotations

import psycopg
import pytest

from db.catalog.drift import check_drift
from db.deploy.apply import apply_master_schema
from db.deploy.health import run_health_checks
from db.local.seed import refresh_metrics_daily, seed_data
from db.plan.database import plan_database
from db.schema.master_file import read_schema
from tests.db.plan.support import converge, found
from tests.support.pg_lanes import LANES

HAND_CHANGE = "ALTER TABLE public.tenants ADD COLUMN nickname text; DROP INDEX public.idx_users_email;"


@pytest.mark.slow
@pytest.mark.parametrize("lane_url", LANES, indirect=True)
def test_master_file_migrates_plans_drifts_and_passes_health(lane_url: str) -> None:
    text = read_schema()
    first = apply_master_schema(lane_url, text, environment="test")
    assert (first.mode, first.outcome) == ("plain", "committed")
    again = apply_master_schema(lane_url, text, environment="test")
    assert again.changes == [], [c.__dict__ for c in again.changes]
    with psycopg.connect(lane_url) as conn:
        seed_data(conn, tenants=2, events=500, days=3)
    with psycopg.connect(lane_url, autocommit=True) as conn:
        refresh_metrics_daily(conn)

    plan = plan_database(lane_url, text)
    assert not plan.steps, [s.sql for s in plan.steps]
    report = check_drift(lane_url, schema_sql=text)
    assert report.mode == "plain"
    assert report.differences == [], [d.as_dict() for d in report.differences]

    with psycopg.connect(lane_url, autocommit=True) as conn:
        conn.execute(HAND_CHANGE)
    before, after, script = converge(lane_url, text)
    assert {
        ("unexpected", "column", "public.tenants.nickname"),
        ("missing", "index", "public.idx_users_email"),
    } <= (found(before)), script
    # The index is rebuilt; the column is left (it may hold rows: destroys_data is not allowed).
    assert found(after) == {("unexpected", "column", "public.tenants.nickname")}, script

    with psycopg.connect(lane_url) as conn:
        checks = run_health_checks(conn)
    failed = [(c.name, c.detail) for c in checks if c.status == "fail"]
    assert not failed, failed
    assert {c.name: c.status for c in checks}["hypertables"] == "skip"
