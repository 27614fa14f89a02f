"""The GX suites on real databases: clean generated data passes in every mode; each corruption fails
exactly the expectation that guards against it.

Each corruption runs on its own copy of a migrated, seeded template database. metrics_daily is
refreshed after the corruption (so only the targeted expectation can fail) unless the corruption is
about metrics_daily itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from db.local.cluster import LocalCluster
from db.local.seed import refresh_metrics_daily
from expectations.runner import SuitesReport, run_suites
from tests.conftest import drop_database
from tests.support.seeded import apply_and_seed, clone_template

RECENT = "SELECT event_id FROM public.listener_events WHERE event_time > now() - interval '1 day'"
EVENT_COLUMNS = (
    "tenant_id, podcast_id, episode_id, listener_id, event_type, position_seconds, duration_seconds"
)

# Stands for "bring metrics_daily up to date", whatever its form in this mode (view, table, cagg).
REFRESH = "-- refresh metrics_daily"

# name -> (statements, the only expectations that may fail, refresh metrics_daily afterwards)
CORRUPTIONS: dict[str, tuple[list[str], set[str], bool]] = {
    "null in a required column": (
        [
            "ALTER TABLE public.listener_events ALTER COLUMN listener_id DROP NOT NULL",
            f"UPDATE public.listener_events SET listener_id = NULL WHERE event_id IN ({RECENT} LIMIT 3)",
        ],
        {"listener_events.listener_id not null"},
        True,
    ),
    "unknown event type": (
        [
            "ALTER TABLE public.listener_events DROP CONSTRAINT listener_events_event_type_check",
            f"UPDATE public.listener_events SET event_type = 'teleport' "
            f"WHERE event_id IN ({RECENT} AND event_type = 'pause' LIMIT 2)",
        ],
        {"listener_events.event_type in known set"},
        True,
    ),
    "negative duration": (
        [
            "ALTER TABLE public.listener_events DROP CONSTRAINT listener_events_duration_seconds_check",
            "UPDATE public.listener_events SET duration_seconds = -5 WHERE event_id = ("
            " SELECT e.event_id FROM public.listener_events e JOIN public.metrics_daily m"
            " ON m.day = date_trunc('day', e.event_time, 'UTC') AND m.episode_id = e.episode_id"
            " AND m.tenant_id = e.tenant_id WHERE e.event_time > now() - interval '1 day'"
            " AND m.listened_seconds > e.duration_seconds + 10 LIMIT 1)",
        ],
        {"listener_events.duration_seconds non-negative"},
        True,
    ),
    "event in the future": (
        [
            f"INSERT INTO public.listener_events (event_id, event_time, {EVENT_COLUMNS}) "
            f"SELECT gen_random_uuid(), now() + interval '1 day', {EVENT_COLUMNS} "
            "FROM public.listener_events "
            f"WHERE event_id IN ({RECENT} LIMIT 1)"
        ],
        {"listener_events not in the future"},
        True,
    ),
    "tenant differs from the episode's": (
        [
            "UPDATE public.listener_events le SET tenant_id = "
            "(SELECT t.id FROM public.tenants t WHERE t.id <> le.tenant_id ORDER BY t.id LIMIT 1) "
            "WHERE le.event_id IN (SELECT event_id FROM public.listener_events "
            "WHERE event_time > now() - interval '6 days' LIMIT 1200)"
        ],
        {"listener_events tenant is the episode's"},
        True,
    ),
    "duplicated event id": (
        [
            f"UPDATE public.listener_events SET event_id = ({RECENT} ORDER BY event_time LIMIT 1) "
            f"WHERE event_id = ({RECENT} ORDER BY event_time DESC LIMIT 1)"
        ],
        {"listener_events.event_id unique"},
        True,
    ),
    "attribution event for a missing campaign": (
        [
            "SET session_replication_role = replica",  # skips the foreign-key triggers, as a bad load would
            "UPDATE public.attribution_events SET campaign_id = gen_random_uuid() WHERE event_id = ("
            "SELECT event_id FROM public.attribution_events "
            "WHERE event_time > now() - interval '5 days' LIMIT 1)",
        ],
        {"attribution_events campaign exists"},
        True,
    ),
    "metrics_daily total disagrees with raw events": (
        [
            f"INSERT INTO public.listener_events (event_id, event_time, {EVENT_COLUMNS}) "
            f"SELECT gen_random_uuid(), event_time, {EVENT_COLUMNS} FROM public.listener_events "
            # a closed day inside metrics_daily's refresh window (3 days): the only days compared
            "WHERE event_time BETWEEN now() - interval '60 hours' AND now() - interval '2 days' LIMIT 1"
        ],
        {"metrics_daily totals equal raw events"},
        False,
    ),
    "stale aggregate": (
        [
            "CREATE TEMP TABLE recent AS SELECT * FROM public.listener_events "
            "WHERE event_time >= date_trunc('day', now(), 'UTC') - interval '2 days'",
            "DELETE FROM public.listener_events WHERE event_id IN (SELECT event_id FROM recent)",
            REFRESH,
            "INSERT INTO public.listener_events SELECT * FROM recent",
        ],
        {"metrics_daily fresh"},
        False,
    ),
    "missing table": (["DROP TABLE public.data_exports"], {"core tables exist"}, True),
    "missing column": (
        ["ALTER TABLE public.podcasts DROP COLUMN image_url"],
        {"columns match the master file"},
        True,
    ),
    "table lost its hypertable": (
        [
            "ALTER TABLE public.listener_events RENAME TO listener_events_old",
            "CREATE TABLE public.listener_events (LIKE public.listener_events_old INCLUDING ALL)",
            "INSERT INTO public.listener_events SELECT * FROM public.listener_events_old",
        ],
        {"listener_events hypertable"},
        True,
    ),
}


def _failed(report: SuitesReport) -> set[str]:
    return {str(r["expectation"]) for r in report.failed_rows()}


def _corrupt(url: str, statements: list[str], refresh: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            if statement == REFRESH:
                refresh_metrics_daily(conn)
            else:
                conn.execute(statement)  # type: ignore[arg-type]  # the test's own SQL
        if refresh:
            refresh_metrics_daily(conn)


def test_clean_data_passes_every_suite_and_builds_data_docs(pg_cluster: LocalCluster, tmp_path: Path) -> None:
    url = clone_template(pg_cluster)
    try:
        report = run_suites(url, data_docs_dir=tmp_path / "docs")
    finally:
        drop_database(pg_cluster, url)
    print(
        f"\nGX suites on small data (10k events, 7-day window, {report.mode} mode, with Data Docs): "
        f"{report.seconds:.1f} s for {len(report.rows)} expectations"
    )
    assert report.failed_rows() == []
    assert report.success and report.mode == "apache"
    assert {r["suite"] for r in report.rows} == {
        "table_shape",
        "hypertables",
        "event_invariants",
        "metrics_daily",
    }
    assert all(
        set(r) == {"suite", "expectation", "success", "observed_value", "unexpected_count"}
        for r in report.rows
    )
    assert report.data_docs_index == tmp_path / "docs" / "index.html"
    assert report.data_docs_index.exists()
    password = urlsplit(url).password
    assert password
    docs_text = "".join(p.read_text(errors="ignore") for p in (tmp_path / "docs").rglob("*.html"))
    assert "event_invariants" in docs_text
    assert password not in docs_text, "the database password must never reach Data Docs"


def test_plain_mode_passes_and_hypertables_are_not_applicable(plain_cluster: LocalCluster) -> None:
    url = clone_template(plain_cluster)
    try:
        report = run_suites(url, build_docs=False)
    finally:
        drop_database(plain_cluster, url)
    assert report.mode == "plain"
    assert report.failed_rows() == []
    hypertable_rows = [r for r in report.rows if r["suite"] == "hypertables"]
    assert [r["expectation"] for r in hypertable_rows] == ["not applicable"]
    assert "plain mode" in hypertable_rows[0]["observed_value"]


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corruption_fails_exactly_its_expectation(pg_cluster: LocalCluster, case: str) -> None:
    statements, expected_failures, refresh = CORRUPTIONS[case]
    url = clone_template(pg_cluster)
    try:
        _corrupt(url, statements, refresh)
        report = run_suites(url, build_docs=False)
    finally:
        drop_database(pg_cluster, url)
    assert _failed(report) == expected_failures, report.failed_rows()
    assert not report.success
    for row in report.failed_rows():
        assert row["unexpected_count"], f"{row['expectation']} failed without saying how many rows"
        assert not str(row["observed_value"]).startswith("error"), row


def test_a_badly_broken_table_gets_its_exact_count(pg_cluster: LocalCluster) -> None:
    """Cross-table rules are flag columns counted by GX, not fetched rows: no cap, the exact number."""
    url = clone_template(pg_cluster)
    try:
        _corrupt(url, CORRUPTIONS["tenant differs from the episode's"][0], refresh=True)
        report = run_suites(url, suites=["event_invariants"], build_docs=False)
    finally:
        drop_database(pg_cluster, url)
    (row,) = report.failed_rows()
    assert row["expectation"] == "listener_events tenant is the episode's"
    assert row["unexpected_count"] == 1200


def test_a_missing_event_table_reports_readable_errors_not_a_crash(pg_cluster: LocalCluster) -> None:
    url = clone_template(pg_cluster)
    try:
        _corrupt(url, ["DROP TABLE public.attribution_events"], refresh=False)
        report = run_suites(url, suites=["event_invariants"], build_docs=False)
    finally:
        drop_database(pg_cluster, url)
    failed = report.failed_rows()
    assert failed and all(r["expectation"].startswith("attribution_events") for r in failed)
    assert all(
        'relation "public.attribution_events" does not exist' in str(r["observed_value"]) for r in failed
    )
    assert all("Traceback" not in str(r["observed_value"]) for r in failed)


@pytest.mark.tsl
def test_tsl_lane_clean_data_passes_with_a_continuous_aggregate(tsl_url: str) -> None:
    apply_and_seed(tsl_url, tenants=1, events=600, days=5)
    started = time.perf_counter()
    report = run_suites(tsl_url, build_docs=False)
    print(f"\nGX suites on the TSL lane (600 events): {time.perf_counter() - started:.1f} s")
    assert report.mode == "tsl"
    assert report.failed_rows() == []
    assert "metrics_daily refresh policy" in {r["expectation"] for r in report.rows}


def test_a_role_without_temp_privilege_validates_without_temporary_tables(pg_cluster: LocalCluster) -> None:
    """GX materialises batches into temporary tables where it may; a read-only role (or a standby)
    cannot create them, and the suites then read the offenders queries directly, same results.
    (BYPASSRLS: without it row-level security would hide every tenant's rows from the checks.)"""
    url = clone_template(pg_cluster)
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    role, password = f"reader_{database[-8:]}", "reader-pw-1"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database))
            )
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN BYPASSRLS PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
            conn.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role))
            )
        reader = parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()
        with psycopg.connect(reader) as conn:
            assert conn.execute("SELECT has_database_privilege(current_database(), 'TEMP')").fetchone() == (
                False,
            )
        _corrupt(url, CORRUPTIONS["event in the future"][0], refresh=True)
        report = run_suites(reader, build_docs=False)
    finally:
        drop_database(pg_cluster, url)
        with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    assert _failed(report) == {"listener_events not in the future"}, report.failed_rows()
    assert len(report.rows) > 30
