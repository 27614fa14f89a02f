"""Schema health checks on a migrated, seeded database: clean passes; each structural problem fails its check.

Every corruption runs inside a transaction that is rolled back (DDL is transactional in PostgreSQL),
and the checks run on that same connection, so one cloned database serves the whole module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import psycopg
import pytest

from db.deploy.health import HealthCheck, run_health_checks
from db.local.cluster import LocalCluster
from db.run.plan_apply import apply_schema
from db.schema.expected import expected_schema
from db.schema.master_file import read_schema
from tests.conftest import drop_database
from tests.support.seeded import clone_template

# Structural corruptions: SQL run in the rolled-back transaction, the check that must fail, and a
# phrase the failure's detail or fix must contain (what is missing, or what to run).
CORRUPTIONS = {
    "missing table": (["DROP TABLE public.data_exports"], "core tables", "data_exports"),
    "missing column": (
        ["ALTER TABLE public.podcasts DROP COLUMN image_url"],
        "columns",
        "podcasts.image_url",
    ),
    "wrong type": (
        ["ALTER TABLE public.sponsors ALTER COLUMN industry TYPE varchar(40)"],
        "columns",
        "sponsors.industry is character varying(40)",
    ),
    "nullable column": (
        ["ALTER TABLE public.episodes ALTER COLUMN title DROP NOT NULL"],
        "columns",
        "episodes.title allows NULL",
    ),
    "missing index": (["DROP INDEX public.idx_campaigns_dates"], "indexes", "idx_campaigns_dates"),
    "invalid index": (
        [
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 'public.idx_sponsors_tenant_id'::regclass"
        ],
        "indexes",
        "REINDEX INDEX CONCURRENTLY public.idx_sponsors_tenant_id",
    ),
    "missing foreign key": (
        ["ALTER TABLE public.deals DROP CONSTRAINT deals_owner_user_id_fkey"],
        "foreign keys",
        "deals(tenant_id,owner_user_id) -> users",
    ),
    "unvalidated foreign key": (
        [
            "ALTER TABLE public.deals DROP CONSTRAINT deals_owner_user_id_fkey",
            "ALTER TABLE public.deals ADD CONSTRAINT deals_owner_user_id_fkey "
            "FOREIGN KEY (tenant_id, owner_user_id) REFERENCES public.users (tenant_id, id) NOT VALID",
        ],
        "foreign keys",
        "VALIDATE CONSTRAINT deals_owner_user_id_fkey",
    ),
    "missing primary key": (
        ["ALTER TABLE public.sponsors DROP CONSTRAINT sponsors_pkey CASCADE"],
        "primary keys",
        "sponsors",
    ),
    "rls disabled": (
        ["ALTER TABLE public.campaigns DISABLE ROW LEVEL SECURITY"],
        "row level security",
        "campaigns",
    ),
    "lost hypertable": (
        [
            "ALTER TABLE public.attribution_events RENAME TO attribution_events_old",
            "CREATE TABLE public.attribution_events (LIKE public.attribution_events_old INCLUDING ALL)",
            "INSERT INTO public.attribution_events SELECT * FROM public.attribution_events_old",
        ],
        "hypertables",
        "attribution_events is not a hypertable",
    ),
    "wrong chunk interval": (
        ["SELECT set_chunk_time_interval('public.listener_events', INTERVAL '7 days')"],
        "hypertables",
        "listener_events has 7 days chunks, expected 1 day",
    ),
    "metrics_daily missing": (
        ["DROP TABLE public.metrics_daily CASCADE"],
        "metrics_daily",
        "does not exist",
    ),
    "stale aggregate": (
        [
            "CREATE TEMP TABLE recent AS SELECT * FROM public.listener_events "
            "WHERE event_time >= date_trunc('day', now(), 'UTC') - interval '2 days'",
            "DELETE FROM public.listener_events WHERE event_id IN (SELECT event_id FROM recent)",
            "SELECT * FROM public.refresh_metrics_daily(NULL)",
            "INSERT INTO public.listener_events SELECT * FROM recent",
        ],
        "metrics_daily freshness",
        "schemaflow refresh-metrics",
    ),
    "still a materialized view": (
        [
            "DROP TABLE public.metrics_daily CASCADE",
            "CREATE MATERIALIZED VIEW public.metrics_daily AS SELECT date_trunc('day', event_time, 'UTC') "
            "AS day, tenant_id, podcast_id, episode_id, count(*) AS events, 0::bigint AS plays, "
            "0::bigint AS completes, 0::bigint AS listened_seconds FROM public.listener_events "
            "GROUP BY 1, 2, 3, 4",
        ],
        "metrics_daily",
        "incrementally refreshed table",
    ),
}
# A dropped table also takes its indexes and foreign keys with it; those checks may fail alongside.
ALSO_FAILING = {
    "missing table": {"indexes", "foreign keys"},
    "missing primary key": {"foreign keys"},  # CASCADE drops the keys that reference sponsors
    "metrics_daily missing": {"core tables", "columns", "indexes"},
    "still a materialized view": {"indexes"},
    # CREATE TABLE (LIKE ...) copies columns and indexes but neither foreign keys nor RLS.
    "lost hypertable": {"foreign keys", "row level security"},
}


@pytest.fixture(scope="module")
def health_conn(pg_cluster: LocalCluster) -> Iterator[psycopg.Connection]:
    """One connection to a migrated, seeded clone; each test's changes are rolled back."""
    url = clone_template(pg_cluster)
    with psycopg.connect(url) as conn:
        yield conn
    drop_database(pg_cluster, url)


def _by_name(checks: list[HealthCheck]) -> dict[str, HealthCheck]:
    return {c.name: c for c in checks}


def test_clean_database_passes_every_check_quickly(health_conn: psycopg.Connection) -> None:
    expected_schema.cache_clear()
    started = time.perf_counter()
    checks = run_health_checks(health_conn)
    seconds = time.perf_counter() - started
    health_conn.rollback()
    print(f"\nhealth checks on the full schema (including parsing the master file): {seconds:.3f} s")
    assert [c for c in checks if c.status != "pass"] == []
    names = {c.name for c in checks}
    assert {
        "core tables",
        "columns",
        "indexes",
        "foreign keys",
        "hypertables",
        "metrics_daily",
        "metrics_daily freshness",
        "row level security",
        "primary keys",
    } <= names
    assert "apache" in _by_name(checks)["metrics_daily"].detail


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_structural_problem_fails_its_check_with_a_fix(health_conn: psycopg.Connection, case: str) -> None:
    statements, check_name, phrase = CORRUPTIONS[case]
    with health_conn.transaction(force_rollback=True):
        for statement in statements:
            health_conn.execute(statement)
        checks = run_health_checks(health_conn)
    failing = {c.name for c in checks if c.status == "fail"}
    assert check_name in failing, checks
    assert failing - {check_name} <= ALSO_FAILING.get(case, set()), checks
    target = _by_name(checks)[check_name]
    assert phrase in f"{target.detail} {target.fix}"
    assert target.fix, "every failure says how to fix it"


def test_plain_mode_skips_hypertables_and_passes(plain_cluster: LocalCluster) -> None:
    url = clone_template(plain_cluster)
    try:
        with psycopg.connect(url) as conn:
            checks = _by_name(run_health_checks(conn))
    finally:
        drop_database(plain_cluster, url)
    assert checks["hypertables"].status == "skip"
    assert "plain" in checks["hypertables"].detail
    assert "plain mode" in checks["metrics_daily"].detail
    assert [c for c in checks.values() if c.status == "fail"] == []


def test_expected_schema_reads_the_master_file() -> None:
    expected = expected_schema()
    assert {"listener_events", "attribution_events", "tenants", "campaigns"} <= set(expected.tables)
    assert expected.hypertables["listener_events"].time_column == "event_time"
    assert expected.hypertables["listener_events"].chunk_interval == "1 day"
    assert expected.value_sets[("listener_events", "event_type")][0] == "play"
    assert "explicit" in expected.tables["episodes"].column_names  # from the "column additions" section
    assert "listener_events" in expected.rls_tables
    assert any(fk.label == "episodes(tenant_id, podcast_id) -> podcasts" for fk in expected.foreign_keys)


def test_invalid_hypertable_index_gets_a_fix_timescaledb_accepts(pg_cluster: LocalCluster) -> None:
    """TimescaleDB refuses REINDEX INDEX on a hypertable: the fix given is run here, then migrate."""
    url = clone_template(pg_cluster)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE pg_index SET indisvalid = false "
                "WHERE indexrelid = 'public.idx_listener_events_episode_id_time'::regclass"
            )
            check = _by_name(run_health_checks(conn))["indexes"]
            assert check.status == "fail" and "idx_listener_events_episode_id_time" in check.detail
            assert "REINDEX" not in check.fix, check.fix
            drop = re.search(r"DROP INDEX [^;]+", check.fix)
            assert drop, check.fix
            conn.execute(drop.group())  # raises if TimescaleDB refuses it
        result = apply_schema(
            url, read_schema(), environment="test", lock_timeout="2s", statement_timeout="5min",
            lock_retries=1, record_history=False, allow_hazards=("blocks_writes",),  # chunk by chunk
        )  # fmt: skip
        assert result.changes, "migrate built the dropped index again"
        with psycopg.connect(url, autocommit=True) as conn:
            assert _by_name(run_health_checks(conn))["indexes"].status == "pass"
    finally:
        drop_database(pg_cluster, url)
