"""The catalog snapshot and its diff, against real PostgreSQL + TimescaleDB databases."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import psycopg
import pytest

from db.catalog.snapshot import KINDS, snapshot_catalog
from db.plan.differences import diff_catalogs
from db.plan.quoting import quote_ident
from db.schema.master_file import read_schema
from tests.conftest import create_database, drop_database

SMALL_SCHEMA = (Path(__file__).parent / "drift_schema.sql").read_text()
# The TSL lane is slow: a hypertable, a continuous aggregate and its refresh policy are all it needs.
TSL_CAGG_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE public.listener_events (event_time timestamptz NOT NULL, episode_id uuid NOT NULL,
                                     duration_seconds integer NOT NULL DEFAULT 0);
SELECT create_hypertable('public.listener_events', 'event_time', chunk_time_interval => INTERVAL '1 day');
CREATE MATERIALIZED VIEW public.metrics_daily WITH (timescaledb.continuous) AS
SELECT time_bucket('1 day', event_time) AS day, episode_id, count(*) AS events
FROM public.listener_events GROUP BY 1, 2 WITH NO DATA;
CREATE INDEX idx_metrics_daily_episode ON public.metrics_daily (episode_id, day);
SELECT add_continuous_aggregate_policy('public.metrics_daily', start_offset => INTERVAL '3 days',
                                       end_offset => INTERVAL '1 hour',
                                       schedule_interval => INTERVAL '1 hour');
"""


def apply_sql(url: str, text: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(text)  # type: ignore[arg-type]


def snapshot(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return snapshot_catalog(conn)


def test_snapshot_describes_every_kind_of_object(db_url: str) -> None:
    apply_sql(db_url, SMALL_SCHEMA)
    snap = snapshot(db_url)

    assert set(snap) == set(KINDS)
    assert snap["extension"]["timescaledb"]["version"]
    assert snap["column"]["public.episodes.number"]["identity"] == "a"
    assert snap["column"]["public.episodes.title_lower"]["generated"] == "lower(title)"
    assert snap["column"]["public.episodes.title_lower"]["default"] is None
    assert snap["column"]["public.episodes.status"]["default"] == "'draft'::public.episode_status"
    fk = snap["constraint"]["public.episodes.episodes_tenant_id_fkey"]
    assert fk["definition"] == "FOREIGN KEY (tenant_id) REFERENCES public.tenants(id) ON DELETE CASCADE"
    assert fk["validated"] is True
    assert snap["constraint"]["public.episodes.episodes_minutes_check"]["definition"] == "CHECK (minutes > 0)"
    # Indexes behind PRIMARY KEY / UNIQUE constraints are described by the constraint only.
    assert "public.tenants_slug_key" not in snap["index"]
    assert snap["constraint"]["public.tenants.tenants_slug_key"]["definition"] == "UNIQUE (slug)"
    trgm = snap["index"]["public.idx_episodes_title_trgm"]
    assert trgm["definition"].endswith("USING gin (title public.gin_trgm_ops)") and trgm["valid"] is True
    assert snap["view"]["public.episode_titles"]["options"] == ["security_barrier=true"]
    assert "date_trunc('day'::text, event_time, 'UTC'::text)" in snap["matview"]["public.metrics_daily"][
        "definition"
    ].replace("listener_events.", "")
    assert snap["function"]["public.set_created_at()"]["definition"].startswith("CREATE OR REPLACE FUNCTION")
    assert list(snap["trigger"]) == ["public.tenants.trg_tenants_created_at"]  # no ts_insert_blocker
    assert snap["sequence"]["public.invoice_numbers"]["owned_by"] == "public.invoices.number"
    assert not any(name.endswith("number_seq") for name in snap["sequence"])  # identity sequences
    assert snap["type"]["public.episode_status"]["labels"] == ["draft", "published"]
    assert snap["type"]["public.positive_int"]["checks"] == ["CHECK (VALUE > 0)"]
    assert snap["rls"]["public.episodes"] == {
        "parent": "table:public.episodes",
        "enabled": True,
        "forced": False,
        "depends_on": [],
    }
    # pg_depend, mapped to snapshot keys: what the planner orders its steps by.
    assert "column:public.episodes.title" in snap["view"]["public.episode_titles"]["depends_on"]
    assert "sequence:public.invoice_numbers" in snap["column"]["public.invoices.number"]["depends_on"]
    assert "extension:pg_trgm" in trgm["depends_on"]
    assert "constraint:public.tenants.tenants_pkey" in fk["depends_on"]
    assert snap["rls"]["public.tenants"]["enabled"] is False
    policy = snap["policy"]["public.episodes.tenant_isolation"]
    assert policy["cmd"] == "ALL" and "app.tenant_id" in policy["using"]
    assert "drift_test_app=ar/postgres" in snap["grant"]["table public.tenants"]["privileges"]
    assert snap["grant"]["view public.episode_titles"]["owner"] == "postgres"
    assert snap["hypertable"]["public.listener_events"]["num_dimensions"] == 1
    assert snap["dimension"]["public.listener_events.event_time"]["time_interval"] == "1 day"


def test_snapshot_excludes_extension_members_and_timescaledb_internals(db_url: str) -> None:
    apply_sql(db_url, SMALL_SCHEMA)
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO listener_events (event_time, tenant_id, episode_id) "
                     "SELECT now() - i * interval '1 day', gen_random_uuid(), gen_random_uuid() "
                     "FROM generate_series(0, 3) i")  # fmt: skip
        conn.commit()
        chunks = conn.execute("SELECT count(*) FROM timescaledb_information.chunks").fetchone()
        snap = snapshot_catalog(conn)
    assert chunks and chunks[0] >= 3
    names = json.dumps({kind: sorted(objects) for kind, objects in snap.items()})
    assert "_hyper_" not in names and "_timescaledb" not in names and "timescaledb_information" not in names
    # pg_trgm's and TimescaleDB's functions live in public but belong to their extensions.
    assert list(snap["function"]) == ["public.set_created_at()"]
    assert not re.search(r"\b\d{4,}\b", names), "an OID-like number leaked into an object name"


def test_snapshot_is_json_and_identical_for_two_databases_from_the_same_file(db_url: str, pg_cluster) -> None:
    other = create_database(pg_cluster, "catalog")
    try:
        apply_sql(db_url, SMALL_SCHEMA)
        apply_sql(other, SMALL_SCHEMA)
        first, second = snapshot(db_url), snapshot(other)
    finally:
        drop_database(pg_cluster, other)
    assert json.loads(json.dumps(first)) == first
    assert first == second
    assert diff_catalogs(first, second) == []


def test_snapshot_restores_the_search_path_inside_a_callers_transaction(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("SET LOCAL search_path = public, pg_temp")
        snapshot_catalog(conn)
        row = conn.execute("SELECT current_setting('search_path')").fetchone()
    assert row == ("public, pg_temp",)


def test_snapshot_reports_an_invalid_index_left_by_a_failed_concurrent_build(db_url: str) -> None:
    apply_sql(db_url, SMALL_SCHEMA)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (slug, name) VALUES ('a', 'same'), ('b', 'same')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY uq_tenants_name ON tenants (name)")
        snap = snapshot_catalog(conn)
    assert snap["index"]["public.uq_tenants_name"]["valid"] is False
    expected = json.loads(json.dumps(snap))
    expected["index"]["public.uq_tenants_name"]["valid"] = True
    [diff] = diff_catalogs(expected, snap)
    assert (diff.status, diff.kind, diff.name) == ("changed", "index", "public.uq_tenants_name")
    assert diff.detail == "valid: expected true, found false"
    # Left invalid by an interrupted build: dropped and built again, both online.
    assert diff.suggestion.splitlines() == [
        "DROP INDEX CONCURRENTLY IF EXISTS public.uq_tenants_name;",
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_tenants_name"
        " ON public.tenants USING btree (name);",
    ]


def test_plain_mode_snapshot_has_no_timescaledb_kinds(plain_db_url: str) -> None:
    apply_sql(plain_db_url, SMALL_SCHEMA)
    snap = snapshot(plain_db_url)
    assert "timescaledb" not in snap["extension"]
    assert snap["hypertable"] == {} and snap["dimension"] == {} and snap["cagg"] == {}
    assert "public.listener_events" in snap["table"]


def test_snapshot_of_the_full_master_schema_is_fast(db_url: str) -> None:
    apply_sql(db_url, read_schema())
    with psycopg.connect(db_url) as conn:
        snapshot_catalog(conn)  # warm the catalog caches, as a second call in apply would be
        started = time.perf_counter()
        snap = snapshot_catalog(conn)
        seconds = time.perf_counter() - started
    counts = {kind: len(objects) for kind, objects in snap.items() if objects}
    print(f"\nsnapshot of the full master schema: {seconds * 1000:.0f} ms for {counts}")
    assert counts["table"] >= 20 and counts["hypertable"] >= 2


def test_diff_folds_the_children_of_a_missing_table_into_one_row() -> None:
    table = {"parent": "schema:public", "relkind": "table", "persistence": "p", "options": None}
    column = {"parent": "table:public.t", "type": "integer", "not_null": False, "default": None,
              "identity": None, "generated": None, "collation": None, "acl": []}  # fmt: skip
    rls = {"parent": "table:public.t", "enabled": True, "forced": False}
    expected: dict = {
        "table": {"public.t": table},
        "column": {"public.t.a": column},
        "rls": {"public.t": rls},
    }
    diffs = diff_catalogs(expected, {})
    assert [(d.status, d.kind, d.name) for d in diffs] == [("missing", "table", "public.t")]
    assert "CREATE TABLE public.t (\n    a integer\n)" in diffs[0].suggestion
    assert "ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;" in diffs[0].suggestion
    assert [(d.status, d.kind) for d in diff_catalogs({}, expected)] == [("unexpected", "table")]


def test_quote_ident_quotes_only_when_needed() -> None:
    assert quote_ident("listener_events") == "listener_events"
    assert quote_ident("user") == '"user"'
    assert quote_ident('Mixed"Case') == '"Mixed""Case"'


@pytest.mark.tsl
def test_tsl_snapshot_describes_the_continuous_aggregate_and_its_policy(tsl_url: str) -> None:
    apply_sql(tsl_url, TSL_CAGG_SCHEMA)
    with psycopg.connect(tsl_url) as conn:
        before = snapshot_catalog(conn)
        flipped = "false" if before["cagg"]["public.metrics_daily"]["materialized_only"] else "true"
        conn.execute("SELECT remove_continuous_aggregate_policy('public.metrics_daily')")
        conn.execute(
            f"ALTER MATERIALIZED VIEW public.metrics_daily SET (timescaledb.materialized_only = {flipped})"
        )
        after = snapshot_catalog(conn)
        conn.rollback()
    cagg = before["cagg"]["public.metrics_daily"]
    assert "time_bucket" in cagg["definition"] and "_materialized_hypertable" not in cagg["definition"]
    assert "public.metrics_daily" not in before["view"]
    assert "public.metrics_daily.policy_refresh_continuous_aggregate" in before["job"]
    cagg_indexes = {
        n: i["definition"] for n, i in before["index"].items() if i["parent"] == "cagg:public.metrics_daily"
    }
    assert cagg_indexes["public.idx_metrics_daily_episode"] == (
        "CREATE INDEX idx_metrics_daily_episode ON public.metrics_daily USING btree (episode_id, day)"
    )
    assert not any("_materialized_hypertable" in n + d for n, d in cagg_indexes.items())
    found = {(d.status, d.kind, d.name) for d in diff_catalogs(before, after)}
    assert found == {
        ("missing", "job", "public.metrics_daily.policy_refresh_continuous_aggregate"),
        ("changed", "cagg", "public.metrics_daily"),
    }


def test_grant_and_policy_suggestions_restore_the_expected_state() -> None:
    grant = {"parent": "table:public.t", "owner": "app_owner", "privileges": ["app_owner=arwdDxt/app_owner"]}
    widened = dict(
        grant, owner="postgres", privileges=[*grant["privileges"], "=r/app_owner", "bi=aw/app_owner"]
    )
    [diff] = diff_catalogs({"grant": {"table public.t": grant}}, {"grant": {"table public.t": widened}})
    assert (diff.status, diff.severity) == ("changed", "high")
    assert diff.suggestion.splitlines() == [
        "ALTER TABLE public.t OWNER TO app_owner;",
        "REVOKE SELECT ON TABLE public.t FROM PUBLIC;",
        "REVOKE INSERT, UPDATE ON TABLE public.t FROM bi;",
    ]
    policy = {"parent": "table:public.t", "permissive": "PERMISSIVE", "roles": ["public"], "cmd": "SELECT",
              "using": "(tenant_id = public.current_tenant_id())", "with_check": None}  # fmt: skip
    [missing] = diff_catalogs({"policy": {"public.t.tenant_isolation": policy}}, {})
    assert missing.suggestion.endswith(
        "CREATE POLICY tenant_isolation ON public.t AS PERMISSIVE FOR SELECT TO PUBLIC\n"
        "  USING ((tenant_id = public.current_tenant_id()));"
    )
