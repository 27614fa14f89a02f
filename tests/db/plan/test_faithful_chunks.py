"""A plan keeps the event hypertables' chunks closed: a new column's grants never reach a chunk.

Chunks have no row-level security. TimescaleDB copies a GRANT on a hypertable (column privileges
included) onto every existing chunk, so a plan that grants a new column to the application role must
close the chunks again in the same run, and a chunk found open is high-severity drift with its fix.
"""

from __future__ import annotations

import secrets
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from db.catalog.drift import check_drift
from db.plan.database import plan_database
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from tests.db.plan.support import converge

NEW_COLUMN = (
    "ALTER TABLE public.listener_events\n"
    "    ADD COLUMN IF NOT EXISTS app_version text NOT NULL DEFAULT 'unknown';\n"
)
# Chunks on which the application role holds any privilege, table-level or on a column.
OPEN_CHUNKS_SQL = """
SELECT count(*) FROM pg_inherits i
WHERE i.inhparent IN ('public.listener_events'::regclass, 'public.attribution_events'::regclass)
  AND (has_table_privilege('podcast_app', i.inhrelid, 'SELECT, INSERT, UPDATE, DELETE')
       OR has_any_column_privilege('podcast_app', i.inhrelid, 'SELECT, INSERT, UPDATE'))
"""
CHUNKS_SQL = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.listener_events'::regclass"


def with_new_column(text: str) -> str:
    """The master file with the column added before its privileges block (where a person adds it)."""
    marker = text.index("-- Privileges of the application role")
    cut = text.rfind("\n-- ---", 0, marker)
    return text[:cut] + "\n" + NEW_COLUMN + text[cut:]


def _one(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(query).fetchone()[0])  # type: ignore[arg-type,index]


@pytest.mark.slow
def test_a_new_event_column_is_granted_and_no_chunk_opens(seeded_url: str) -> None:
    text = with_new_column(read_schema())
    assert _one(seeded_url, CHUNKS_SQL) > 1, "the seeded template has no chunks to leak through"

    plan = plan_database(seeded_url, text)
    statements = [s.sql for s in plan.steps]
    granting = "GRANT INSERT (app_version), SELECT (app_version), UPDATE (app_version)"
    assert any(granting in s for s in statements), statements
    assert any("REVOKE" in s and "chunk" in s for s in statements), statements

    result = apply_schema(
        seeded_url, text, environment="test", lock_timeout="5s", statement_timeout="60s", lock_retries=1
    )
    assert result.method == "plan" and result.objects_changed >= 1, result
    with psycopg.connect(seeded_url) as conn:
        granted = conn.execute(
            "SELECT has_column_privilege('podcast_app', 'public.listener_events', 'app_version', 'SELECT'),"
            "       has_column_privilege('podcast_app', 'public.listener_events', 'app_version', 'UPDATE')"
        ).fetchone()
    assert granted == (True, True)
    assert _one(seeded_url, OPEN_CHUNKS_SQL) == 0
    assert plan_database(seeded_url, text).is_empty
    assert not check_drift(seeded_url, schema_sql=text).has_drift
    assert_login_member_is_refused_on_chunks(seeded_url)


def assert_login_member_is_refused_on_chunks(url: str) -> None:
    """A real LOGIN member of podcast_app may neither read nor update any chunk."""
    name, password = f"chunk_login_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(12)
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE podcast_app").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        chunks = [r[0] for r in owner.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'public.listener_events'::regclass ORDER BY 1"
        ).fetchall()]  # fmt: skip
    try:
        with psycopg.connect(make_conninfo(url, user=name, password=password), autocommit=True) as app:
            for chunk in chunks:
                for statement in (
                    f"SELECT app_version FROM {chunk} LIMIT 1",
                    f"UPDATE {chunk} SET app_version = 'x'",
                ):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        app.execute(statement)  # type: ignore[arg-type]  # names from the catalog
    finally:
        with psycopg.connect(url, autocommit=True) as owner:
            owner.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.mark.slow
def test_a_chunk_granted_by_hand_is_high_drift_and_the_plan_closes_it(seeded_url: str) -> None:
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        chunk = conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'public.listener_events'::regclass ORDER BY 1 LIMIT 1"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(f"GRANT SELECT ON {chunk} TO podcast_app")  # type: ignore[arg-type]
        conn.execute(f"GRANT UPDATE (region) ON {chunk} TO podcast_app")  # type: ignore[arg-type]
    assert _one(seeded_url, OPEN_CHUNKS_SQL) == 1

    first, second, script = converge(seeded_url, read_schema())
    reported = {(d.kind, d.name): d for d in first.differences}
    assert ("hypertable", "public.listener_events") in reported, sorted(reported)
    diff = reported[("hypertable", "public.listener_events")]
    assert diff.severity == "high"
    assert "podcast_app SELECT" in diff.detail and "podcast_app UPDATE (region)" in diff.detail
    assert "REVOKE SELECT ON" in script and "REVOKE UPDATE (region) ON" in script
    assert not second.has_drift, second.differences
    assert _one(seeded_url, OPEN_CHUNKS_SQL) == 0
