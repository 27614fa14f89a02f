"""metrics_daily in apache/plain mode: a table kept current inside a refresh window, never by a deploy.

Real PostgreSQL + TimescaleDB (db_url, plain_db_url) and the TSL lane (tsl_url).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from db.connection.environments import get_environment
from db.deploy.apply import apply_master_schema
from db.deploy.metrics import refresh_metrics_window
from db.errors import HazardsNotAllowed
from db.local.seed import refresh_metrics_daily, seed_data
from db.plan.database import plan_database
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from tasks.approval import approval_form

ROOT = Path(__file__).resolve().parents[2]

LIMITS = {"lock_timeout": "1s", "statement_timeout": "5min", "lock_retries": 3}
SMALL = {"tenants": 2, "events": 4000, "days": 10, "seed": 5}
ANCHOR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
BUCKETS_SQL = """
SELECT tenant_id, podcast_id, episode_id, day, events, plays, completes, listened_seconds
FROM public.metrics_daily ORDER BY tenant_id, podcast_id, episode_id, day
"""
# One digest of the whole aggregate: equal means every bucket and every total is equal.
CHECKSUM_SQL = """
SELECT count(*), sum(events), sum(listened_seconds),
       md5(coalesce(string_agg(concat_ws(',', tenant_id, podcast_id, episode_id, day, events, plays,
                                         completes, listened_seconds), '|'
                               ORDER BY tenant_id, podcast_id, episode_id, day), ''))
FROM public.metrics_daily
"""
LATE_EVENT_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id, event_type,
                                    position_seconds, duration_seconds)
SELECT %(at)s, tenant_id, podcast_id, episode_id, 'late-listener', 'play', 0, 60
FROM public.metrics_daily WHERE day = date_trunc('day', %(at)s::timestamptz, 'UTC')
ORDER BY tenant_id, podcast_id, episode_id LIMIT 1
RETURNING tenant_id, podcast_id, episode_id
"""
LEGACY_MATVIEW = """
DROP VIEW public.tenant_metrics_daily;
DROP TABLE public.metrics_daily;
CREATE MATERIALIZED VIEW public.metrics_daily AS
SELECT date_trunc('day', event_time, 'UTC') AS day, tenant_id, podcast_id, episode_id,
       count(*) AS events,
       count(*) FILTER (WHERE event_type = 'play') AS plays,
       count(*) FILTER (WHERE event_type = 'complete') AS completes,
       sum(duration_seconds)::bigint AS listened_seconds
FROM public.listener_events GROUP BY 1, 2, 3, 4 WITH DATA;
CREATE UNIQUE INDEX uq_metrics_daily_key ON public.metrics_daily (tenant_id, podcast_id, episode_id, day);
CREATE VIEW public.tenant_metrics_daily WITH (security_barrier = true) AS
SELECT day, tenant_id, podcast_id, episode_id, events, plays, completes, listened_seconds
FROM public.metrics_daily WHERE tenant_id = public.current_tenant_id();
GRANT SELECT ON public.tenant_metrics_daily TO podcast_app;
"""
LOCKS_SQL = """
SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND c.relname IN ('listener_events', 'metrics_daily') ORDER BY 1, 2
"""


def _deploy(url: str, allow_hazards: tuple[str, ...] = ()) -> object:
    """migrate's apply: the whole file on an empty database, the plan on a live one."""
    return apply_schema(url, read_schema(), environment="test", allow_hazards=allow_hazards, **LIMITS)  # type: ignore[arg-type]


def _seeded(url: str) -> None:
    _deploy(url)
    with psycopg.connect(url) as conn:
        seed_data(conn, anchor=ANCHOR, **SMALL)
    with psycopg.connect(url, autocommit=True) as conn:
        refresh_metrics_daily(conn)  # the seed wrote ten days of history: build all of it once


def _one(conn: psycopg.Connection, query: str, params: tuple = ()) -> Any:
    """The first column of the first row."""
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def _checksum(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(CHECKSUM_SQL).fetchone()  # type: ignore[return-value]


def _buckets(conn: psycopg.Connection) -> dict[tuple, tuple]:
    return {tuple(r[:4]): tuple(r[4:]) for r in conn.execute(BUCKETS_SQL).fetchall()}


def _ran(result: object) -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in result.post_commit_steps if s.status != "skipped"]  # type: ignore[attr-defined]


def test_fresh_apache_build_is_a_table_with_the_unique_key_and_no_app_privilege(db_url: str) -> None:
    first = _deploy(db_url)
    assert first.method == "file"  # type: ignore[attr-defined]
    assert _ran(first) == []  # the file's DO block built (backfilled) it in the same transaction
    with psycopg.connect(db_url) as conn:
        kind = conn.execute("SELECT relkind::text FROM pg_class WHERE oid = 'public.metrics_daily'::regclass")
        assert kind.fetchone() == ("r",)
        unique = conn.execute(
            "SELECT indexdef FROM pg_indexes "
            "WHERE tablename = 'metrics_daily' AND indexname = 'uq_metrics_daily_key'"
        ).fetchone()
        assert unique and unique[0].startswith("CREATE UNIQUE INDEX")
        assert "(tenant_id, podcast_id, episode_id, day)" in unique[0]
        privileges = conn.execute(
            "SELECT has_table_privilege('podcast_app', 'public.metrics_daily', 'SELECT'), "
            "has_table_privilege('podcast_app', 'public.tenant_metrics_daily', 'SELECT'), "
            "has_function_privilege('podcast_app', 'public.refresh_metrics_daily(interval)', 'EXECUTE')"
        ).fetchone()
        assert privileges == (False, True, False)


def test_a_no_op_deploy_on_a_seeded_database_refreshes_nothing(db_url: str) -> None:
    _seeded(db_url)
    before = _checksum(db_url)
    planned = _deploy(db_url)  # what migrate runs on a live database
    assert planned.method == "plan" and planned.objects_changed == 0  # type: ignore[attr-defined]
    assert planned.post_commit_steps == []  # type: ignore[attr-defined]
    whole = apply_master_schema(db_url, environment="test", **LIMITS)  # type: ignore[arg-type]
    assert whole.changes == []
    assert [(s.status, s.detail) for s in whole.post_commit_steps] == [
        ("skipped", "refreshed inside its window by the refresh-metrics schedule")
    ]
    assert _checksum(db_url) == before


def test_late_events_inside_the_window_change_their_buckets_and_older_buckets_do_not_move(
    db_url: str,
) -> None:
    _seeded(db_url)
    inside = ANCHOR - timedelta(days=1, hours=2)
    outside = ANCHOR - timedelta(days=7, hours=2)
    with psycopg.connect(db_url) as conn:
        before = _buckets(conn)
        late_in = conn.execute(LATE_EVENT_SQL, {"at": inside}).fetchone()
        late_out = conn.execute(LATE_EVENT_SQL, {"at": outside}).fetchone()
        assert late_in and late_out
        conn.commit()
    with psycopg.connect(db_url, autocommit=True) as conn:
        report = refresh_metrics_window(conn, "3 days")
        after = _buckets(conn)
        day_in = _one(conn, "SELECT date_trunc('day', %s::timestamptz, 'UTC')", (inside,))
        day_out = _one(conn, "SELECT date_trunc('day', %s::timestamptz, 'UTC')", (outside,))
    assert report.kind == "table" and report.buckets_upserted == 1 and report.buckets_deleted == 0
    key_in, key_out = (*late_in, day_in), (*late_out, day_out)
    events, plays, completes, listened = before[key_in]
    assert after[key_in] == (events + 1, plays + 1, completes, listened + 60)
    assert after[key_out] == before[key_out]  # its late event is outside the window: left as it was
    assert report.window_start is not None
    for key, totals in before.items():
        if key[3] < report.window_start:
            assert after[key] == totals, key
    assert set(after) == set(before)

    # A wider window takes the old late event in; a bucket whose events are gone is deleted.
    with psycopg.connect(db_url) as conn:
        conn.execute("SET row_security = off")
        conn.execute(
            "DELETE FROM public.listener_events WHERE tenant_id = %s AND podcast_id = %s AND episode_id = %s "
            "AND event_time >= %s AND event_time < %s + interval '1 day'",
            (*late_in, day_in, day_in),
        )
        conn.commit()
    with psycopg.connect(db_url, autocommit=True) as conn:
        wide = refresh_metrics_window(conn, "8 days")
        final = _buckets(conn)
    assert wide.buckets_deleted == 1 and key_in not in final
    assert final[key_out][0] == before[key_out][0] + 1


def test_the_refresh_takes_row_locks_only_and_never_blocks_an_ingest(db_url: str) -> None:
    _seeded(db_url)
    with psycopg.connect(db_url) as refresher, psycopg.connect(db_url) as writer:
        refresher.execute("SELECT * FROM public.refresh_metrics_daily('3 days')")
        locks = refresher.execute(LOCKS_SQL).fetchall()  # held to the end of this open transaction
        assert ("listener_events", "AccessShareLock") in locks
        assert {mode for rel, mode in locks} <= {"AccessShareLock", "RowExclusiveLock"}, locks
        assert ("metrics_daily", "RowExclusiveLock") in locks
        # An insert into listener_events, and a reader of metrics_daily, go through meanwhile.
        writer.execute("SET lock_timeout = '1s'")
        row = writer.execute(LATE_EVENT_SQL, {"at": ANCHOR - timedelta(hours=3)}).fetchone()
        assert row is not None
        assert _one(writer, "SELECT count(*) FROM public.metrics_daily") > 0
        writer.commit()
        refresher.commit()


def test_two_refreshes_at_once_are_serialised(db_url: str) -> None:
    _seeded(db_url)
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as conn:
                refresh_metrics_window(conn, "10 days")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize("path", ["plan", "file"])
def test_upgrade_from_the_materialized_view_keeps_every_total(db_url: str, path: str) -> None:
    _seeded(db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute(LEGACY_MATVIEW)  # the form older versions of the master file built
        conn.commit()
        assert conn.execute(
            "SELECT count(*) FROM pg_matviews WHERE matviewname = 'metrics_daily'"
        ).fetchone() == (1,)
    before = _checksum(db_url)
    assert before[0] > 0
    if path == "plan":  # the file's DO block holds listener_events: a declared hazard, refused unless allowed
        production = get_environment("production", ROOT / "environments.toml")
        form = approval_form(plan_database(db_url, read_schema()), production)
        hazards = ["blocks_writes", "blocks_reads"]
        form.model_validate({"decision": "approve", "reason": "fine", "allow_hazards": hazards})  # tickable
        with pytest.raises(HazardsNotAllowed) as refused:
            _deploy(db_url)
        assert "reshape table public.metrics_daily" in refused.value.message
        assert "--allow-hazard blocks_writes" in (refused.value.hint or "")
        assert _checksum(db_url) == before
    whole_file = apply_master_schema(db_url, environment="test", **LIMITS) if path == "file" else None  # type: ignore[arg-type]
    result = whole_file or _deploy(db_url, ("blocks_writes", "blocks_reads"))
    assert result.outcome == "committed"  # type: ignore[attr-defined]
    assert _checksum(db_url) == before
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT relkind::text FROM pg_class WHERE oid = 'public.metrics_daily'::regclass"
        ).fetchone() == ("r",)
        assert conn.execute("SELECT count(*) FROM pg_matviews").fetchone() == (0,)
        tenant = _one(conn, "SELECT id FROM tenants ORDER BY slug LIMIT 1")
        own = _one(conn, "SELECT count(*) FROM metrics_daily WHERE tenant_id = %s", (tenant,))
        conn.execute("SET ROLE podcast_app")
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant),))
        assert conn.execute("SELECT count(*) FROM tenant_metrics_daily").fetchone() == (own,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM metrics_daily")
    # and the next deploy is a no-op again
    again = _deploy(db_url)
    assert again.objects_changed == 0 and _ran(again) == []  # type: ignore[attr-defined]


@pytest.mark.slow
def test_plain_mode_builds_and_refreshes_the_same_table(plain_db_url: str) -> None:
    _seeded(plain_db_url)
    with psycopg.connect(plain_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == (
            0,
        )
        total = _one(conn, "SELECT count(*) FROM listener_events")
        assert conn.execute("SELECT sum(events) FROM metrics_daily").fetchone() == (total,)
    with psycopg.connect(plain_db_url, autocommit=True) as conn:
        report = refresh_metrics_window(conn, "3 days")
    assert report.kind == "table" and report.buckets_upserted == 0  # nothing changed since the backfill


@pytest.mark.slow
@pytest.mark.tsl
def test_tsl_keeps_the_continuous_aggregate_and_its_policy(tsl_url: str) -> None:
    first = _deploy(tsl_url)
    assert [(n, s) for n, s in _ran(first)] == [("first refresh of continuous aggregate metrics_daily", "ok")]
    with psycopg.connect(tsl_url) as conn:
        seed_data(conn, tenants=1, events=300, days=3, seed=3, anchor=ANCHOR)
    with psycopg.connect(tsl_url, autocommit=True) as conn:
        report = refresh_metrics_window(conn, "3 days")
        assert report.kind == "cagg"
        caggs = conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates").fetchall()
        jobs = conn.execute(
            "SELECT count(*) FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_refresh_continuous_aggregate'"
        ).fetchone()
        assert caggs == [("metrics_daily",)] and jobs == (1,)
        assert conn.execute("SELECT sum(events) FROM metrics_daily").fetchone() == (300,)
    # PGlite has one database, so no scratch database for a plan beside it: the whole-file re-apply.
    again = apply_master_schema(tsl_url, environment="test", **LIMITS)  # type: ignore[arg-type]
    assert again.changes == [] and _ran(again) == []
    assert [(s.status, s.detail) for s in again.post_commit_steps] == [
        ("skipped", "its refresh policy keeps it current")
    ]


def test_the_gx_suite_checks_the_same_refresh_window_as_the_refresh() -> None:
    from db.deploy.metrics import DEFAULT_WINDOW
    from expectations.suites.metrics_daily import REFRESH_WINDOW

    assert REFRESH_WINDOW == DEFAULT_WINDOW


APACHE_ERA_TABLE = """
DROP MATERIALIZED VIEW public.metrics_daily CASCADE;
CREATE TABLE public.metrics_daily (
    day timestamptz NOT NULL, tenant_id uuid NOT NULL, podcast_id uuid NOT NULL, episode_id uuid NOT NULL,
    events bigint NOT NULL, plays bigint NOT NULL, completes bigint NOT NULL, listened_seconds bigint
);
CREATE UNIQUE INDEX uq_metrics_daily_key ON public.metrics_daily (tenant_id, podcast_id, episode_id, day);
"""


@pytest.mark.slow
@pytest.mark.tsl
def test_tsl_upgrades_the_table_to_a_continuous_aggregate_with_the_same_totals(tsl_url: str) -> None:
    apply_master_schema(tsl_url, environment="test", **LIMITS)  # type: ignore[arg-type]
    with psycopg.connect(tsl_url) as conn:
        seed_data(conn, tenants=1, events=300, days=3, seed=4, anchor=ANCHOR)
    with psycopg.connect(tsl_url, autocommit=True) as conn:  # the form an apache server built
        for statement in APACHE_ERA_TABLE.split(";\n"):
            if statement.strip():
                conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("SELECT * FROM public.refresh_metrics_daily(NULL)")
    before = _checksum(tsl_url)
    assert before[1] == 300
    result = apply_master_schema(tsl_url, environment="test", **LIMITS)  # type: ignore[arg-type]
    assert "schemaflow: metrics_daily upgraded from table to continuous aggregate" in result.notices
    assert _ran(result) == [("first refresh of continuous aggregate metrics_daily", "ok")]
    assert _checksum(tsl_url) == before
    with psycopg.connect(tsl_url) as conn:
        caggs = conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates").fetchall()
        assert caggs == [("metrics_daily",)]
        assert _one(conn, "SELECT count(*) FROM pg_views WHERE viewname = 'tenant_metrics_daily'") == 1
