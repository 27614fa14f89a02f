"""The master schema on the three kinds of server: fresh apply, idempotent re-apply, capability
upgrade, and tenant isolation as the application role."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from db.catalog.snapshot import snapshot_catalog
from db.local.cluster import LocalCluster, free_port
from db.local.seed import refresh_metrics_daily, seed_data
from db.plan.differences import diff_catalogs
from db.schema.master_file import MASTER_SCHEMA, read_schema
from tests.conftest import create_database
from tests.support.master_file import execute_master_file

APP_ROLE = "podcast_app"
MODE_NOTICE = re.compile(r"schemaflow master schema mode: (\w+)")
# Small on purpose: these tests prove behaviour; the 1M-event benchmark lives in test_seed.py.
SMALL = {"tenants": 2, "events": 3000, "days": 5, "seed": 11}
ANCHOR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

TABLES_SQL = """
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
ORDER BY 1
"""
TENANT_SCOPED_SQL = """
SELECT c.relname, c.relrowsecurity,
       EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
               AND p.policyname = 'tenant_isolation') AS has_policy
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
  -- the derived aggregate: no privilege for the application, read through tenant_metrics_daily
  AND c.relname <> 'metrics_daily'
  AND (c.relname = 'tenants'
       OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                  AND NOT a.attisdropped))
ORDER BY 1
"""
HYPERTABLES_SQL = """
SELECT hypertable_name FROM timescaledb_information.hypertables
WHERE hypertable_schema = 'public' ORDER BY 1
"""


# Every upgrade step of the master file announces itself with a "schemaflow: ..." notice.
UPGRADE_NOTICE = re.compile(r"^schemaflow: ")
LAST_NOTICES: list[str] = []


def apply_schema(url: str, text: str | None = None) -> str:
    """Run the whole master file in one transaction, as the migrate flow does; return the mode noticed."""
    notices: list[str] = LAST_NOTICES
    notices.clear()
    with psycopg.connect(url) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        # PGlite serves every connection from one backend, so a SET elsewhere may have hidden notices.
        conn.execute("SET client_min_messages = notice")
        execute_master_file(conn, text or read_schema())  # the TSL lane takes no 64 KiB query string
        conn.commit()
    modes = [m.group(1) for n in notices if (m := MODE_NOTICE.search(n))]
    assert len(modes) == 1, notices
    return modes[0]


def row_checksums(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """(row count, md5 of every row) per table in public: equal dicts mean identical rows."""
    sums = {}
    for (table,) in conn.execute(TABLES_SQL).fetchall():
        query = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            "FROM public.{} AS t"
        ).format(sql.Identifier(table))
        count, digest = conn.execute(query).fetchall()[0]
        sums[table] = (count, digest)
    return sums


def snapshot(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return snapshot_catalog(conn)


def seed_and_refresh(url: str, **scale: int) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = seed_data(conn, anchor=ANCHOR, **scale)
    with psycopg.connect(url, autocommit=True) as conn:
        refresh_metrics_daily(conn)
    return rows


def checksums(url: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return row_checksums(conn)


def assert_reapply_changes_nothing(url: str, expected_mode: str) -> None:
    before_catalog, before_rows = snapshot(url), checksums(url)
    assert apply_schema(url) == expected_mode
    assert [n for n in LAST_NOTICES if UPGRADE_NOTICE.match(n)] == []  # no upgrade step ran again
    assert diff_catalogs(expected=before_catalog, actual=snapshot(url)) == []
    assert checksums(url) == before_rows


def metrics_daily_kind(conn: psycopg.Connection) -> str:
    return conn.execute(
        "SELECT relkind::text FROM pg_class WHERE oid = 'public.metrics_daily'::regclass"
    ).fetchall()[0][0]


@pytest.mark.slow
def test_apache_fresh_apply_and_reapply_keep_catalog_and_rows(db_url: str) -> None:
    assert apply_schema(db_url) == "apache"
    rows = seed_and_refresh(db_url, **SMALL)
    assert rows["listener_events"] == SMALL["events"]
    with psycopg.connect(db_url) as conn:
        hypertables = [r[0] for r in conn.execute(HYPERTABLES_SQL).fetchall()]
        assert hypertables == ["attribution_events", "listener_events"]
        assert metrics_daily_kind(conn) == "r"
        unique = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'metrics_daily' "
            "AND indexdef LIKE 'CREATE UNIQUE INDEX%'"
        ).fetchall()
        assert unique == [("uq_metrics_daily_key",)]
        tables = [r[0] for r in conn.execute(TABLES_SQL).fetchall()]
    assert 25 <= len(tables) <= 35, tables
    assert_reapply_changes_nothing(db_url, "apache")


@pytest.mark.slow
def test_plain_fresh_apply_and_reapply_keep_catalog_and_rows(plain_db_url: str) -> None:
    assert apply_schema(plain_db_url) == "plain"
    seed_and_refresh(plain_db_url, **SMALL)
    with psycopg.connect(plain_db_url) as conn:
        timescaledb = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
        assert timescaledb.fetchone() == (0,)
        assert metrics_daily_kind(conn) == "r"
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {
        "idx_users_tenant_id",
        "idx_users_email",
        "idx_listener_events_timestamp",
        "idx_attribution_events_campaign_id",
        "idx_podcasts_title_trgm",
        "idx_episodes_title_trgm",
    } <= indexes
    assert_reapply_changes_nothing(plain_db_url, "plain")


@pytest.mark.slow
def test_psql_applies_the_file_statement_by_statement_to_the_same_catalog(
    pg_cluster: LocalCluster, db_url: str
) -> None:
    import os

    from db.connection.urls import libpq_subprocess_args

    psql = shutil.which("psql") or "/usr/bin/psql"
    conninfo, secret = libpq_subprocess_args(db_url)  # the password stays out of ps
    for _ in range(2):  # fresh, then re-run
        result = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(MASTER_SCHEMA), "-d", conninfo],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **secret},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "schemaflow master schema mode: apache" in result.stderr
    reference = create_database(pg_cluster, prefix="ref")
    try:
        apply_schema(reference)
        assert diff_catalogs(expected=snapshot(reference), actual=snapshot(db_url)) == []
    finally:
        from tests.conftest import drop_database

        drop_database(pg_cluster, reference)


@pytest.mark.slow
def test_rls_shows_the_application_role_only_its_own_tenant(db_url: str) -> None:
    apply_schema(db_url)
    seed_and_refresh(db_url, **SMALL)
    with psycopg.connect(db_url) as conn:
        scoped = conn.execute(TENANT_SCOPED_SQL).fetchall()
        assert len(scoped) >= 20
        unprotected = [name for name, rls, policy in scoped if not (rls and policy)]
        assert unprotected == []
        tenant_a, tenant_b = (r[0] for r in conn.execute("SELECT id FROM tenants ORDER BY slug").fetchall())
        owner_counts = {
            name: _count(conn, name, "tenant_id" if name != "tenants" else "id", tenant_b)
            for name, _, _ in scoped
        }
        assert owner_counts["listener_events"] > 0 and owner_counts["campaigns"] > 0

        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
        for name, _, _ in scoped:
            key = "id" if name == "tenants" else "tenant_id"
            assert _count(conn, name) == 0, f"{name} visible without a tenant"
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_a),))
            assert _count(conn, name, key, tenant_b) == 0, f"{name} leaks tenant B's rows to tenant A"
            conn.execute("RESET app.tenant_id")
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_a),))
        assert _count(conn, "listener_events") > 0
        assert _count(conn, "tenant_metrics_daily") > 0
        assert _count(conn, "tenant_metrics_daily", "tenant_id", tenant_b) == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM metrics_daily")
        conn.rollback()
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_a),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # WITH CHECK: no writing as another tenant
            conn.execute("INSERT INTO sponsors (tenant_id, name) VALUES (%s, 'Sneaky')", (tenant_b,))
        conn.rollback()


def _count(conn: psycopg.Connection, table: str, key: str | None = None, value: object = None) -> int:
    query = sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table))
    if key is None:
        return conn.execute(query).fetchall()[0][0]
    query = sql.SQL("{} WHERE {} = %s").format(query, sql.Identifier(key))
    return conn.execute(query, (value,)).fetchall()[0][0]


@pytest.mark.slow
def test_capability_upgrade_plain_to_hypertables_keeps_every_row() -> None:
    base = Path(tempfile.mkdtemp(prefix="schemaflow-upgrade-"))
    base.chmod(0o755)  # the server runs as the postgres OS user when tests run as root
    port = free_port()
    plain = LocalCluster(datadir=base / "pgdata", port=port, preload_timescaledb=False)
    preloaded = LocalCluster(datadir=base / "pgdata", port=port, preload_timescaledb=True)
    try:
        plain.start()
        url = create_database(plain, prefix="upgrade")
        assert apply_schema(url) == "plain"
        seed_and_refresh(url, **SMALL)
        before = checksums(url)
        assert before["listener_events"][0] == SMALL["events"]

        plain.stop()
        preloaded.start()  # rewrites shared_preload_libraries, then starts
        assert apply_schema(url) == "apache"
        assert checksums(url) == before
        with psycopg.connect(url) as conn:
            assert [r[0] for r in conn.execute(HYPERTABLES_SQL)] == ["attribution_events", "listener_events"]
            chunks = conn.execute(
                "SELECT count(*) FROM timescaledb_information.chunks "
                "WHERE hypertable_name = 'listener_events'"
            ).fetchall()[0][0]
            assert chunks >= SMALL["days"]
            only_parent = conn.execute("SELECT count(*) FROM ONLY public.listener_events").fetchall()[0][0]
            assert only_parent == 0  # every row moved into chunks
        assert_reapply_changes_nothing(url, "apache")
    finally:
        preloaded.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.tsl
def test_tsl_fresh_apply_reapply_and_continuous_aggregate(tsl_url: str) -> None:
    assert apply_schema(tsl_url) == "tsl"
    seed_and_refresh(tsl_url, tenants=1, events=400, days=3, seed=3)
    with psycopg.connect(tsl_url) as conn:
        caggs = conn.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
        ).fetchall()
        assert caggs == [("metrics_daily", False)]
        jobs = conn.execute(
            "SELECT count(*) FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_refresh_continuous_aggregate'"
        ).fetchall()[0][0]
        assert jobs == 1
        totals = conn.execute(
            "SELECT (SELECT sum(events) FROM metrics_daily), (SELECT count(*) FROM listener_events)"
        ).fetchone()
        assert totals == (400, 400)
        assert [r[0] for r in conn.execute(HYPERTABLES_SQL)] == ["attribution_events", "listener_events"]
        rls = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE oid = 'public.listener_events'::regclass"
        ).fetchall()[0][0]
        assert rls is True  # lifted only while the continuous aggregate was created
    assert_reapply_changes_nothing(tsl_url, "tsl")
