"""The issue's false negatives and false alarm, on a database freshly migrated from the master file.

Each hand change is made on a copy of one migrated database; drift must report it, and the plan it
prints (`schemaflow drift --sql`), applied with `psql -v ON_ERROR_STOP=1 -f`, must make a second drift
report nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from db.catalog.drift import check_drift
from db.deploy.apply import apply_master_schema
from db.local.cluster import LocalCluster
from db.schema.master_file import read_schema
from tests.conftest import create_database, drop_database
from tests.db.plan.support import converge, copy_of, found, run


@pytest.fixture(scope="module")
def schema_text() -> str:
    return read_schema()


@pytest.fixture(scope="module")
def migrated(pg_cluster: LocalCluster, schema_text: str) -> Iterator[str]:
    url = create_database(pg_cluster, "planmaster")
    apply_master_schema(url, schema_text, environment="test")
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture
def live(pg_cluster: LocalCluster, migrated: str) -> Iterator[str]:
    with copy_of(pg_cluster, migrated) as url:
        yield url


SHADOW_SCHEMA = """
CREATE SCHEMA shadow;
CREATE TABLE shadow.api_keys (LIKE public.api_keys INCLUDING ALL);
CREATE FUNCTION shadow.all_keys() RETURNS SETOF public.api_keys LANGUAGE sql SECURITY DEFINER
    AS 'SELECT * FROM public.api_keys';
GRANT USAGE ON SCHEMA shadow TO podcast_app;
GRANT EXECUTE ON FUNCTION shadow.all_keys() TO podcast_app;
"""

# (id, hand change, a difference drift must report, its severity)
CHANGES = [
    ("identity INCREMENT BY", "ALTER TABLE audit_log ALTER COLUMN id SET INCREMENT BY 10",
     ("changed", "column", "public.audit_log.id"), "medium"),
    ("comment changed", "COMMENT ON TABLE plans IS 'edited by hand'",
     ("changed", "comment", "table public.plans"), "low"),
    ("comment added", "COMMENT ON COLUMN podcasts.title IS 'shown in the app'",
     ("unexpected", "comment", "column public.podcasts.title"), "low"),
    ("rule DO INSTEAD NOTHING", "CREATE RULE audit_discard AS ON INSERT TO audit_log DO INSTEAD NOTHING",
     ("unexpected", "rule", "public.audit_log.audit_discard"), "high"),
    ("new schema with a copy of api_keys", SHADOW_SCHEMA, ("unexpected", "schema", "shadow"), "medium"),
    ("default privileges", "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO podcast_app",
     ("unexpected", "default_privilege", None), "high"),
    ("function body of current_tenant_id",
     "CREATE OR REPLACE FUNCTION public.current_tenant_id() RETURNS uuid "
     "LANGUAGE sql STABLE AS $$ SELECT NULL::uuid $$",
     ("changed", "function", "public.current_tenant_id()"), "high"),
    ("SECURITY DEFINER turned INVOKER", "ALTER FUNCTION deals_require_feature() SECURITY INVOKER",
     ("changed", "function", "public.deals_require_feature()"), "high"),
    ("security_barrier off", "ALTER VIEW tenant_metrics_daily RESET (security_barrier)",
     ("changed", "view", "public.tenant_metrics_daily"), "high"),
    ("retention window changed by hand",
     "CREATE OR REPLACE FUNCTION public.retention_windows() "
     "RETURNS TABLE (table_name text, keep_for interval) LANGUAGE sql IMMUTABLE AS "
     "$$ VALUES ('public.listener_events', INTERVAL '5 years'), "
     "('public.attribution_events', INTERVAL '13 months') $$",
     ("changed", "function", "public.retention_windows()"), "medium"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "want", "severity"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES]
)
def test_hand_change_is_found_and_the_script_converges(
    live: str, schema_text: str, change: str, want: tuple, severity: str
) -> None:
    run(live, change)
    first, second, script = converge(live, schema_text)
    hits = [d for d in first.differences if (d.status, d.kind) == want[:2] and want[2] in (None, d.name)]
    assert hits, [d.as_dict() for d in first.differences]
    assert hits[0].severity == severity
    assert second.differences == [], (script, [d.as_dict() for d in second.differences])


def test_bypassrls_on_the_application_role_is_high_and_reverted(live: str, schema_text: str) -> None:
    run(live, "ALTER ROLE podcast_app BYPASSRLS")
    try:
        first, second, script = converge(live, schema_text)
    finally:
        run(live, "ALTER ROLE podcast_app NOBYPASSRLS")
    [diff] = [d for d in first.differences if d.kind == "role"]
    assert (diff.status, diff.name, diff.severity) == ("changed", "podcast_app", "high")
    assert "ALTER ROLE podcast_app WITH NOBYPASSRLS" in script
    assert second.differences == []


def test_drift_run_by_a_monitoring_role_reports_nothing_on_a_clean_database(
    pg_cluster: LocalCluster, live: str, schema_text: str
) -> None:
    role = f"monitor_{int(time.time() * 1000)}"
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'monitor-secret' CREATEDB").format(sql.Identifier(role))
        )
        conn.execute(sql.SQL("GRANT pg_read_all_settings TO {}").format(sql.Identifier(role)))
    url = f"postgresql://{role}:monitor-secret@127.0.0.1:{pg_cluster.port}/{live.rsplit('/', 1)[1]}"
    try:
        report = check_drift(url, schema_sql=schema_text)
    finally:
        with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
            # The scratch database the role made for itself (schemaflow_scratch[_role]) is kept by
            # design; a role leaving the cluster takes it along.
            owned = conn.execute(
                "SELECT datname FROM pg_database WHERE datdba = to_regrole(%s)", (role,)
            ).fetchall()
            for (name,) in owned:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert report.differences == [], [d.as_dict() for d in report.differences]
    assert report.plan is not None and report.plan.is_empty


def test_new_schema_is_found_on_the_live_side(live: str, schema_text: str) -> None:
    run(live, SHADOW_SCHEMA)
    report = check_drift(live, schema_sql=schema_text)
    names = found(report)
    assert ("unexpected", "schema", "shadow") in names


def test_renamed_referrals_table_is_renamed_back_with_its_rows(live: str, schema_text: str) -> None:
    run(
        live,
        "INSERT INTO tenants (id, slug, name) "
        "VALUES ('00000000-0000-0000-0000-000000000001', 'acme', 'Acme');"
        "INSERT INTO referrals (tenant_id, referred_email, code) "
        "SELECT '00000000-0000-0000-0000-000000000001', 'r' || g || '@example.com', 'code' || g "
        "FROM generate_series(1, 3) g;"
        "ALTER TABLE referrals RENAME TO referral_invites",
    )
    first, second, script = converge(live, schema_text)
    assert {
        ("missing", "table", "public.referrals"),
        ("unexpected", "table", "public.referral_invites"),
    } <= found(first)
    assert "ALTER TABLE public.referral_invites RENAME TO referrals" in script
    assert "DROP TABLE" not in script and "CREATE TABLE" not in script
    assert first.plan is not None and any(
        "rename of table" in n and "inferred" in n for n in first.plan.notes
    )
    assert second.differences == [], (script, [d.as_dict() for d in second.differences])
    with psycopg.connect(live) as conn:
        assert conn.execute("SELECT count(*) FROM referrals").fetchone() == (3,)


def test_plan_command_prints_steps_locks_sizes_and_the_checksum(
    live: str, schema_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    run(
        live,
        "INSERT INTO tenants (id, slug, name) VALUES ('00000000-0000-0000-0000-000000000002', 'beta', 'B');"
        "INSERT INTO users (tenant_id, email) VALUES ('00000000-0000-0000-0000-000000000002', 'a@b.c');"
        "DROP INDEX idx_users_email; COMMENT ON TABLE plans IS 'edited'",
    )  # users now holds a row: its index is built online
    assert main(["plan", "--database-url", live]) == 1
    out = " ".join(capsys.readouterr().out.split())  # however the terminal wraps it
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email ON public.users" in out
    assert "ShareUpdateExclusiveLock on public.users, online, after commit" in out
    assert "rows," in out and "bytes" in out
    assert "plan checksum " in out
    assert main(["plan", "--database-url", live, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {s["kind"] for s in data["steps"]} == {"index", "comment"} and len(data["checksum"]) == 64
