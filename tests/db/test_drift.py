"""Drift detection against databases migrated from the real master file.

The hand changes run inside a transaction that is rolled back, against one database migrated once for
the module, and are compared with that database's own snapshot: each takes milliseconds. The full
check (scratch database, apply, snapshot, drop) runs in the end-to-end tests below.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from db.catalog.drift import check_drift
from db.catalog.scratch import SCRATCH_DATABASE, THROWAWAY_PREFIX
from db.catalog.snapshot import snapshot_catalog
from db.connection.urls import with_database
from db.deploy.apply import apply_master_schema
from db.errors import ConfigError
from db.local.cluster import LocalCluster
from db.plan.differences import diff_catalogs
from db.schema.master_file import read_schema
from tests.conftest import create_database, drop_database
from tests.support.seeded import copy_database

PUBLIC_RELATIONS_SQL = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
"""


@pytest.fixture(scope="module")
def schema_text() -> str:
    """The master file read once, so every database in this module is built from the same text."""
    return read_schema()


@pytest.fixture(scope="module")
def migrated_url(pg_cluster: LocalCluster, schema_text: str) -> Iterator[str]:
    """One database migrated from the master file by the real apply, shared by this module."""
    url = create_database(pg_cluster, "drift")
    apply_master_schema(url, schema_text, environment="test")
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture(scope="module")
def baseline(migrated_url: str) -> dict:
    with psycopg.connect(migrated_url) as conn:
        return snapshot_catalog(conn)


def first(names: dict, prefix: str = "public.") -> str:
    """The first object of a kind (for names the contract does not fix, e.g. the view's)."""
    return sorted(n for n in names if n.startswith(prefix))[0]


def view_name(snap: dict) -> str:
    return first(snap["view"])


def episodes_policy(snap: dict) -> str:
    return first(snap["policy"], "public.episodes.").rsplit(".", 1)[1]


def recreate_view(snap: dict) -> str:
    name = view_name(snap)
    body = snap["view"][name]["definition"].rstrip(";")
    return f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM ({body}) AS v WHERE true"


def not_valid_fk(snap: dict) -> str:
    definition = snap["constraint"]["public.episodes.episodes_tenant_id_fkey"]["definition"]
    return (
        "ALTER TABLE episodes DROP CONSTRAINT episodes_tenant_id_fkey;"
        f"ALTER TABLE episodes ADD CONSTRAINT episodes_tenant_id_fkey {definition} NOT VALID"
    )


def drop_hypertable_catalog_entry(snap: dict) -> str:
    # TimescaleDB has no "turn back into a plain table"; a hand rebuild ends in this catalog state.
    return (
        "DELETE FROM _timescaledb_catalog.dimension d USING _timescaledb_catalog.hypertable h "
        "WHERE d.hypertable_id = h.id AND h.table_name = 'listener_events';"
        "DELETE FROM _timescaledb_catalog.hypertable WHERE table_name = 'listener_events'"
    )


# (id, SQL or a function of the baseline snapshot returning SQL, expected (status, kind, name) or a
# function of the snapshot returning it)
HandChange = tuple[str, str | Callable[[dict], str], tuple[str, str, str] | Callable[[dict], tuple]]
HAND_CHANGES: list[HandChange] = [
    ("added column", "ALTER TABLE tenants ADD COLUMN nickname text",
     ("unexpected", "column", "public.tenants.nickname")),
    ("dropped column", "ALTER TABLE tenants DROP COLUMN name", ("missing", "column", "public.tenants.name")),
    ("changed column type", "ALTER TABLE tenants ALTER COLUMN name TYPE varchar(200)",
     ("changed", "column", "public.tenants.name")),
    ("changed default", "ALTER TABLE listener_events ALTER COLUMN duration_seconds SET DEFAULT 1",
     ("changed", "column", "public.listener_events.duration_seconds")),
    ("dropped NOT NULL", "ALTER TABLE episodes ALTER COLUMN title DROP NOT NULL",
     ("changed", "column", "public.episodes.title")),
    ("dropped index", "DROP INDEX idx_users_email", ("missing", "index", "public.idx_users_email")),
    ("index with another definition",
     "DROP INDEX idx_users_tenant_id; CREATE INDEX idx_users_tenant_id ON users (tenant_id DESC)",
     ("changed", "index", "public.idx_users_tenant_id")),
    ("extra index", "CREATE INDEX idx_episodes_extra ON episodes (title)",
     ("unexpected", "index", "public.idx_episodes_extra")),
    ("dropped FK", "ALTER TABLE episodes DROP CONSTRAINT episodes_tenant_id_fkey",
     ("missing", "constraint", "public.episodes.episodes_tenant_id_fkey")),
    ("NOT VALID FK", not_valid_fk, ("changed", "constraint", "public.episodes.episodes_tenant_id_fkey")),
    ("changed CHECK",
     "ALTER TABLE episodes DROP CONSTRAINT episodes_duration_seconds_check;"
     "ALTER TABLE episodes ADD CONSTRAINT episodes_duration_seconds_check CHECK (duration_seconds >= 0)",
     ("changed", "constraint", "public.episodes.episodes_duration_seconds_check")),
    ("extra table", "CREATE TABLE public.notes_by_hand (id int PRIMARY KEY, body text)",
     ("unexpected", "table", "public.notes_by_hand")),
    ("dropped view", lambda s: f"DROP VIEW {view_name(s)}", lambda s: ("missing", "view", view_name(s))),
    ("changed view definition", recreate_view, lambda s: ("changed", "view", view_name(s))),
    ("RLS disabled", "ALTER TABLE episodes DISABLE ROW LEVEL SECURITY",
     ("changed", "rls", "public.episodes")),
    ("policy changed", lambda s: f"ALTER POLICY {episodes_policy(s)} ON episodes USING (true)",
     lambda s: ("changed", "policy", f"public.episodes.{episodes_policy(s)}")),
    ("no longer a hypertable", drop_hypertable_catalog_entry,
     ("missing", "hypertable", "public.listener_events")),
    ("changed chunk interval", "SELECT set_chunk_time_interval('listener_events', INTERVAL '7 days')",
     ("changed", "dimension", "public.listener_events.event_time")),
]  # fmt: skip


@pytest.mark.parametrize(("change", "expected"), [(c[1], c[2]) for c in HAND_CHANGES],
                         ids=[c[0] for c in HAND_CHANGES])  # fmt: skip
def test_each_hand_change_is_reported_and_nothing_else(
    migrated_url: str, baseline: dict, change: str | Callable, expected: tuple | Callable
) -> None:
    statement = change(baseline) if callable(change) else change
    want = expected(baseline) if callable(expected) else expected
    with psycopg.connect(migrated_url) as conn:
        conn.execute(statement)  # type: ignore[arg-type]
        actual = snapshot_catalog(conn)
        conn.rollback()
    diffs = diff_catalogs(expected=baseline, actual=actual)
    assert [(d.status, d.kind, d.name) for d in diffs] == [want]
    assert diffs[0].severity in ("high", "medium", "low")
    assert diffs[0].suggestion.strip()
    if want[0] == "changed":
        assert "expected" in diffs[0].detail and "found" in diffs[0].detail


def test_suggestions_are_the_sql_a_reviewer_would_run(migrated_url: str, baseline: dict) -> None:
    with psycopg.connect(migrated_url) as conn:
        conn.execute(not_valid_fk(baseline))  # type: ignore[arg-type]
        conn.execute("DROP INDEX idx_users_email; ALTER TABLE episodes DISABLE ROW LEVEL SECURITY;"
                     "ALTER TABLE tenants ALTER COLUMN name TYPE varchar(200)")  # fmt: skip
        actual = snapshot_catalog(conn)
        conn.rollback()
    by_kind = {d.kind: d for d in diff_catalogs(expected=baseline, actual=actual)}
    assert by_kind["constraint"].suggestion.startswith(
        "ALTER TABLE public.episodes VALIDATE CONSTRAINT episodes_tenant_id_fkey;"
    )
    # users holds rows as far as the planner knows (no sizes here): the index is built online.
    assert (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email ON public.users"
        in by_kind["index"].suggestion
    )
    assert by_kind["rls"].suggestion == "ALTER TABLE public.episodes ENABLE ROW LEVEL SECURITY;"
    assert "ALTER COLUMN name TYPE text USING name::text" in by_kind["column"].suggestion
    assert by_kind["rls"].severity == "high"


def test_database_migrated_from_the_file_has_no_drift_apache(migrated_url: str, schema_text: str) -> None:
    report = check_drift(migrated_url, schema_sql=schema_text)
    print(f"\ndrift check on the full schema (apache mode): {report.seconds:.2f} s")
    assert report.mode == "apache"
    assert report.differences == [], [d.as_dict() for d in report.differences]
    assert SCRATCH_DATABASE in report.scratch  # reused, never created and dropped per run


def test_database_migrated_from_the_file_has_no_drift_plain(plain_db_url: str, schema_text: str) -> None:
    apply_master_schema(plain_db_url, schema_text, environment="test")
    started = time.monotonic()
    report = check_drift(plain_db_url, schema_sql=schema_text)
    print(f"\ndrift check on the full schema (plain mode): {time.monotonic() - started:.2f} s")
    assert report.mode == "plain"
    assert report.differences == [], [d.as_dict() for d in report.differences]


def test_template_copy_with_scratch_url_reports_changes_and_leaves_scratch_empty(
    pg_cluster: LocalCluster, migrated_url: str, schema_text: str
) -> None:
    # TimescaleDB databases can be copied WITH TEMPLATE: the copy's catalog (hypertables included)
    # equals the original's, which the first assertion relies on.
    name = f"drift_copy_{int(time.time() * 1000)}"
    copy_database(pg_cluster, migrated_url.rsplit("/", 1)[1], name)
    copy_url = with_database(migrated_url, name)
    scratch_url = create_database(pg_cluster, "scratch")
    try:
        with psycopg.connect(copy_url) as conn:
            conn.execute("ALTER TABLE tenants ADD COLUMN nickname text; DROP INDEX idx_users_email")
        report = check_drift(copy_url, scratch_url=scratch_url, schema_sql=schema_text)
        with psycopg.connect(scratch_url) as conn:
            left = conn.execute(PUBLIC_RELATIONS_SQL).fetchone()
    finally:
        drop_database(pg_cluster, copy_url)
        drop_database(pg_cluster, scratch_url)
    assert {(d.status, d.kind, d.name) for d in report.differences} == {
        ("unexpected", "column", "public.tenants.nickname"),
        ("missing", "index", "public.idx_users_email"),
    }
    assert left == (0,)
    assert report.has_drift and report.counts() == {"missing": 1, "unexpected": 1}


def test_scratch_url_must_be_another_empty_database(migrated_url: str) -> None:
    with pytest.raises(ConfigError, match="names the target database itself"):
        check_drift(migrated_url, scratch_url=migrated_url)
    other = with_database(migrated_url, migrated_url.rsplit("/", 1)[1])
    with pytest.raises(ConfigError, match="already holds"):
        check_drift(with_database(migrated_url, "postgres"), scratch_url=other)


def test_role_without_createdb_is_told_the_privilege_and_the_admins_statement(
    pg_cluster: LocalCluster, migrated_url: str
) -> None:
    role = f"drift_reader_{int(time.time() * 1000)}"
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'reader-secret' NOCREATEDB").format(sql.Identifier(role))
        )
        # db.catalog.capabilities reads shared_preload_libraries, which needs this role for non-superusers.
        conn.execute(sql.SQL("GRANT pg_read_all_settings TO {}").format(sql.Identifier(role)))
    reader_url = (
        f"postgresql://{role}:reader-secret@127.0.0.1:{pg_cluster.port}/{migrated_url.rsplit('/', 1)[1]}"
    )
    with psycopg.connect(admin, autocommit=True) as conn:  # as on a server where no run made it yet
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(SCRATCH_DATABASE)))
    try:
        with pytest.raises(ConfigError, match="may not create the scratch database") as info:
            check_drift(reader_url)
        assert "lacks CREATEDB" in info.value.message
        assert f"CREATE DATABASE {SCRATCH_DATABASE} OWNER {role}" in (info.value.hint or "")
        assert "--scratch-url" in (info.value.hint or "")
        assert "reader-secret" not in str(info.value)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        with psycopg.connect(admin) as conn:
            leftovers = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                                     (THROWAWAY_PREFIX + "%",)).fetchone()  # fmt: skip
    assert leftovers == (0,)


# Names the old 11-word reserved list let through unquoted, a quote, and a name a hostile user could
# pick: its newline would end a `--` comment and start a statement of its own.
AWKWARD_SCHEMA = """
CREATE TABLE public."primary" ("column" integer NOT NULL, "it""s" text);
CREATE FUNCTION public."select"() RETURNS integer LANGUAGE sql AS 'SELECT 1';
REVOKE ALL ON public."primary" FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION public."select"() FROM PUBLIC;
"""
CRAFTED = 'x\nDROP TABLE "primary"; --'


def test_suggestions_for_awkward_names_are_valid_sql_that_reconciles(db_url: str) -> None:
    hand_changes = sql.SQL(
        'ALTER TABLE public."primary" DROP COLUMN "column", ALTER COLUMN "it""s" TYPE varchar(10), '
        "ADD COLUMN {crafted} integer; "
        "CREATE TABLE public.{crafted} (id integer); "
        'GRANT EXECUTE ON FUNCTION public."select"() TO PUBLIC'
    ).format(crafted=sql.Identifier(CRAFTED))
    with psycopg.connect(db_url) as conn:
        conn.execute(AWKWARD_SCHEMA)
        expected = snapshot_catalog(conn)
        conn.execute(hand_changes)
        diffs = diff_catalogs(expected=expected, actual=snapshot_catalog(conn))
        for diff in diffs:
            conn.execute(diff.suggestion)  # type: ignore[arg-type]
        reconciled = snapshot_catalog(conn)
        conn.rollback()
    assert {(d.status, d.kind, d.name) for d in diffs} == {
        ("missing", "column", "public.primary.column"),
        ("changed", "column", 'public.primary.it"s'),
        ("unexpected", "column", f"public.primary.{CRAFTED}"),
        ("unexpected", "table", f"public.{CRAFTED}"),
        ("changed", "grant", "function public.select()"),
    }
    by_name = {d.name: d.suggestion for d in diffs}
    assert 'ADD COLUMN "column" integer NOT NULL' in by_name["public.primary.column"]
    assert by_name["function public.select()"] == 'REVOKE EXECUTE ON ROUTINE public."select"() FROM PUBLIC;'
    assert diff_catalogs(expected=expected, actual=reconciled) == []


def test_a_plan_never_drops_an_extension_silently(db_url: str) -> None:
    from db.plan.database import plan_database
    from db.plan.model import Hazard

    text = "CREATE TABLE IF NOT EXISTS public.kept (id integer PRIMARY KEY);"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION hstore; " + text)
    withheld = plan_database(db_url, text)
    assert not [s for s in withheld.steps if "DROP EXTENSION" in s.sql], withheld.steps
    assert any("DROP EXTENSION hstore" in note and "destroys_data" in note for note in withheld.notes)
    allowed = plan_database(db_url, text, allow_destroy=True)
    drops = [s for s in allowed.steps if s.sql.startswith("DROP EXTENSION")]
    assert [s.hazards for s in drops] == [(Hazard.DESTROYS_DATA,)]
