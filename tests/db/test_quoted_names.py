"""A table whose name needs quoting (mixed case, a space) goes through plan, migrate, drift and health.

Names like `public."Weird Table"` are valid PostgreSQL; every place that turns a name into SQL must
quote it (to_regclass parses its argument as SQL, so an unquoted 'public.Weird Table' is an error).
"""

from __future__ import annotations

import psycopg

from db.catalog.drift import check_drift
from db.deploy.health import run_health_checks
from db.plan.database import plan_database
from db.run.plan_apply import apply_schema
from db.schema.expected import expected_schema

LIMITS = {"lock_timeout": "1s", "statement_timeout": "5min", "lock_retries": 1}
FIRST = """
CREATE TABLE IF NOT EXISTS public."Weird Table" (
    id bigint PRIMARY KEY,
    "Tenant Id" uuid NOT NULL,
    note text
);
CREATE INDEX IF NOT EXISTS "Weird Table by Tenant" ON public."Weird Table" ("Tenant Id");
-- Health expects the file's daily metrics table whatever else the file holds.
CREATE TABLE IF NOT EXISTS public.metrics_daily (
    day date, tenant_id uuid, podcast_id uuid, episode_id uuid,
    events bigint, plays bigint, completes bigint, listened_seconds bigint
);
"""
SECOND = FIRST.replace("    note text\n", '    note text,\n    "Added At" timestamptz\n')
CHECKS = ("core tables", "columns", "primary keys", "indexes")


def _apply(url: str, text: str) -> object:
    return apply_schema(url, text, environment="test", record_history=False, **LIMITS)  # type: ignore[arg-type]


def test_a_mixed_case_table_name_with_a_space_plans_migrates_drifts_and_checks(db_url: str) -> None:
    assert plan_database(db_url, FIRST).steps, "an empty database plans the table"
    _apply(db_url, FIRST)  # the whole file (empty target): checks the file's tables with to_regclass
    planned = plan_database(db_url, SECOND)
    assert any('"Added At"' in step.sql for step in planned.steps), [s.sql for s in planned.steps]
    _apply(db_url, SECOND)  # a live target: the plan's steps
    with psycopg.connect(db_url) as conn:
        columns = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.\"Weird Table\"'::regclass "
            "AND attnum > 0 ORDER BY attnum"
        ).fetchall()
    assert [c[0] for c in columns] == ["id", "Tenant Id", "note", "Added At"]
    assert not check_drift(db_url, schema_sql=SECOND).has_drift
    assert check_drift(
        db_url, schema_sql=SECOND + 'ALTER TABLE public."Weird Table" ADD COLUMN x int;\n'
    ).has_drift
    with psycopg.connect(db_url) as conn:
        checks = {c.name: c for c in run_health_checks(conn, expected_schema(SECOND))}
    assert {name: checks[name].status for name in CHECKS} == dict.fromkeys(CHECKS, "pass"), checks
    assert checks["indexes"].detail == "1 indexes present and valid"
