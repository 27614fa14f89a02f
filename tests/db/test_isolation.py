"""Tenant isolation on hypertables, tested as a real LOGIN role in podcast_app.

Every chunk (the seeded ones, and one the application itself creates during the test), every
relation in TimescaleDB's schemas and a continuous aggregate's materialization are refused for
SELECT, INSERT, UPDATE and DELETE; pg_stats shows no chunk; ingest through the hypertables keeps
working; a row cannot reference another tenant's parent; a tenant deletes its own events and nobody
else's; an existing database is upgraded in place without losing a row; health fails with high
severity as soon as any of it is opened again, and the SQL it names closes it.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from db.catalog.snapshot import snapshot_catalog
from db.deploy.health import HealthCheck, run_health_checks
from db.local.cluster import LocalCluster
from db.local.seed import refresh_metrics_daily, seed_data
from db.plan.differences import diff_catalogs
from db.schema.master_file import read_schema
from tests.conftest import drop_database
from tests.support.master_file import execute_master_file
from tests.support.seeded import apply_and_seed, clone_template

APP_ROLE = "podcast_app"
SMALL = {"tenants": 2, "events": 3000, "days": 5, "seed": 11}
FAR_FUTURE = datetime(2031, 6, 1, 12, tzinfo=UTC)
REFUSED = psycopg.errors.InsufficientPrivilege
# A view that cannot be written is refused by the rewriter before the privilege check.
VIEW_REFUSALS = (
    psycopg.errors.InsufficientPrivilege,
    psycopg.errors.ObjectNotInPrerequisiteState,
    psycopg.errors.FeatureNotSupported,
)
# Everything a role could read or write in the schemas TimescaleDB keeps things in, with a column.
INTERNAL_RELATIONS_SQL = r"""
SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text,
       (SELECT quote_ident(a.attname) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname LIKE '\_timescaledb\_%'
       OR n.nspname IN (SELECT chunk_schema FROM timescaledb_information.chunks))
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY 1
"""
CHUNKS_SQL = """
SELECT format('%%I.%%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks
WHERE hypertable_name = %s ORDER BY range_start
"""
INSERT_LISTENER_EVENT = """
INSERT INTO listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id, event_type,
                             position_seconds)
VALUES (%s, current_tenant_id(), gen_random_uuid(), gen_random_uuid(), 'isolation-test', 'play', 0)
"""
INSERT_ATTRIBUTION_EVENT = """
INSERT INTO attribution_events (event_time, tenant_id, campaign_id, event_type)
SELECT %s, current_tenant_id(), id, 'click' FROM campaigns ORDER BY id LIMIT 1
"""
# The keys the master file turned composite, to rebuild an "old" database from (see the upgrade test).
COMPOSITE_KEYS_SQL = """
SELECT c.relname, k.conname, a.attname, r.relname, k.confdeltype::text
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_class r ON r.oid = k.confrelid
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[2]
WHERE k.contype = 'f' AND c.relnamespace = 'public'::regnamespace AND cardinality(k.conkey) = 2
  AND k.conkey[1] = (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = 'tenant_id')
ORDER BY 1, 2
"""
FIX_STATEMENT = re.compile(r"(?:REVOKE|GRANT|ALTER TABLE) [^;()]*")


# ---------------------------------------------------------------------------------------------------
# Helpers: a login role in podcast_app, sessions as that role and as the owner.
# ---------------------------------------------------------------------------------------------------
@contextmanager
def app_login(url: str) -> Iterator[tuple[str, str]]:
    """A LOGIN role that is a member of podcast_app (roles are cluster-wide: unique name, dropped after)."""
    name, password = f"app_login_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(12)
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(name), sql.Literal(password), sql.Identifier(APP_ROLE)
            )
        )
    try:
        yield name, password
    finally:
        with psycopg.connect(url, autocommit=True) as owner:
            owner.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@contextmanager
def app_session(url: str, login: tuple[str, str], tenant: str) -> Iterator[psycopg.Connection]:
    """A connection as the login role, acting for `tenant` (as the application does)."""
    with psycopg.connect(make_conninfo(url, user=login[0], password=login[1])) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant,))
        conn.commit()
        yield conn


def tenant_ids(conn: psycopg.Connection) -> tuple[str, str]:
    a, b = (str(r[0]) for r in conn.execute("SELECT id FROM tenants ORDER BY slug").fetchall()[:2])
    return a, b


def count(conn: psycopg.Connection, query: str, *params: object) -> int:
    return conn.execute(query, params).fetchall()[0][0]


def refusals(conn: psycopg.Connection, relation: str, relkind: str, column: str | None) -> dict[str, str]:
    """Try SELECT, INSERT, UPDATE and DELETE on `relation`; return what was not refused (empty: all were)."""
    attempts = {
        "SELECT": f"SELECT 1 FROM {relation} LIMIT 1",
        "INSERT": f"INSERT INTO {relation} DEFAULT VALUES",
        "UPDATE": f"UPDATE {relation} SET {column} = {column}",
        "DELETE": f"DELETE FROM {relation}",
    }
    allowed = VIEW_REFUSALS if relkind == "v" else (REFUSED,)
    leaks = {}
    if column is None:  # no column to SET (TimescaleDB's cache-invalidation proxies): ask instead
        del attempts["UPDATE"]
        if conn.execute("SELECT has_table_privilege(%s, 'UPDATE')", (relation,)).fetchall()[0][0]:
            leaks["UPDATE"] = "granted"
    for verb, statement in attempts.items():
        expected = (REFUSED,) if verb == "SELECT" else allowed
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(statement)  # relation names come from the catalog
            leaks[verb] = "succeeded"
        except expected:
            pass
        except psycopg.Error as exc:
            leaks[verb] = f"{type(exc).__name__}: {exc.diag.message_primary}"
    return leaks


def assert_refused_everywhere(app: psycopg.Connection, relations: list[tuple[str, str, str | None]]) -> None:
    leaks = {rel: found for rel, kind, col in relations if (found := refusals(app, rel, kind, col))}
    assert leaks == {}, leaks


def by_name(checks: list[HealthCheck]) -> dict[str, HealthCheck]:
    return {c.name: c for c in checks}


# ---------------------------------------------------------------------------------------------------
# Chunks, internals and statistics
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_app_login_is_refused_on_every_chunk_internal_relation_and_their_statistics(db_url: str) -> None:
    apply_and_seed(db_url, **SMALL)
    with psycopg.connect(db_url, autocommit=True) as owner, app_login(db_url) as login:
        tenant_a, tenant_b = tenant_ids(owner)
        chunks_before = {
            t: owner.execute(CHUNKS_SQL, (t,)).fetchall() for t in ("listener_events", "attribution_events")
        }
        own_before = count(owner, "SELECT count(*) FROM listener_events WHERE tenant_id = %s", tenant_a)

        with app_session(db_url, login, tenant_a) as app:
            # Ingest through the hypertables: into an existing chunk, and far ahead (a new chunk each).
            app.execute(INSERT_LISTENER_EVENT, (datetime.now(UTC),))
            app.execute(INSERT_LISTENER_EVENT, (FAR_FUTURE,))
            app.execute(INSERT_ATTRIBUTION_EVENT, (FAR_FUTURE,))
            assert (
                app.execute(
                    "UPDATE listener_events SET position_seconds = 7 WHERE event_time = %s", (FAR_FUTURE,)
                ).rowcount
                == 1
            )
            app.commit()
            assert count(app, "SELECT count(*) FROM listener_events") == own_before + 2
            assert count(app, "SELECT count(*) FROM listener_events WHERE tenant_id = %s", tenant_b) == 0

        new_chunks = []
        for table, before in chunks_before.items():
            after = owner.execute(CHUNKS_SQL, (table,)).fetchall()
            assert len(after) == len(before) + 1, f"the far-future insert made no new {table} chunk"
            new_chunks.append(after[-1][0])
        owner.execute("ANALYZE listener_events")
        owner.execute("ANALYZE attribution_events")
        first_chunk = chunks_before["listener_events"][0][0]
        owner_tenants = count(owner, f"SELECT count(DISTINCT tenant_id) FROM {first_chunk}")
        assert owner_tenants == 2  # the chunk really holds both tenants' rows
        stats_with_b = (
            "SELECT count(*) FROM pg_stats WHERE schemaname LIKE '\\_timescaledb\\_%%' "
            "AND concat(most_common_vals::text, histogram_bounds::text) LIKE %s"
        )
        assert count(owner, stats_with_b, f"%{tenant_b}%") > 0  # there are statistics to leak

        with app_session(db_url, login, tenant_a) as app:
            relations = owner.execute(INTERNAL_RELATIONS_SQL).fetchall()
            assert set(new_chunks) <= {r[0] for r in relations}
            assert_refused_everywhere(app, relations)
            for chunk in new_chunks:  # created by the application role itself, after the schema
                assert refusals(app, chunk, "r", "event_time") == {}
            assert (
                count(app, "SELECT count(*) FROM pg_stats WHERE schemaname LIKE '\\_timescaledb\\_%%'") == 0
            )
            assert count(app, stats_with_b, f"%{tenant_b}%") == 0
            # timescaledb_information runs as its owner: metadata only, never a tenant's value.
            views = owner.execute(
                "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.views "
                "WHERE table_schema IN ('timescaledb_information', 'timescaledb_experimental')"
            ).fetchall()
            for (view,) in views:
                try:
                    with app.transaction(force_rollback=True):
                        shown = str(app.execute(f"SELECT * FROM {view}").fetchall())
                except psycopg.Error:
                    continue  # refused is fine too
                assert tenant_a not in shown and tenant_b not in shown, view
        print(
            f"\n{len(relations)} TimescaleDB relations refused to {login[0]}, incl. new chunks {new_chunks}"
        )
        assert count(owner, f"SELECT count(DISTINCT tenant_id) FROM {first_chunk}") == 2  # nothing removed


@pytest.mark.slow
@pytest.mark.tsl
def test_tsl_materialization_and_its_views_are_refused(tsl_url: str) -> None:
    with psycopg.connect(tsl_url) as conn:
        conn.execute("SET client_min_messages = warning")
        execute_master_file(conn)  # the TSL lane takes no 64 KiB query string
        conn.commit()
        seed_data(conn, tenants=2, events=400, days=3, seed=3)
    # PGlite serves every connection from one backend and has no password login: one connection,
    # the role taken with SET ROLE after the owner's catalog reads.
    with psycopg.connect(tsl_url, autocommit=True) as conn:
        refresh_metrics_daily(conn)
        tenant_a, _ = tenant_ids(conn)
        conn.autocommit = False
        materialized = conn.execute(
            "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) "
            "FROM timescaledb_information.continuous_aggregates WHERE view_name = 'metrics_daily'"
        ).fetchone()
        assert materialized is not None
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant_a,))
        conn.execute(INSERT_LISTENER_EVENT, (FAR_FUTURE,))  # a new chunk, created by the app role
        conn.commit()
        conn.execute("RESET ROLE")
        relations = conn.execute(INTERNAL_RELATIONS_SQL).fetchall()
        names = {r[0] for r in relations}
        assert materialized[0] in names
        assert any("_direct_view_" in r for r in names) and any("_partial_view_" in r for r in names)
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
        assert_refused_everywhere(conn, relations)
        assert count(conn, "SELECT count(*) FROM tenant_metrics_daily") > 0
        assert count(conn, "SELECT count(DISTINCT tenant_id) FROM tenant_metrics_daily") == 1
        with pytest.raises(REFUSED), conn.transaction():
            conn.execute("SELECT count(*) FROM metrics_daily")
        conn.execute("RESET ROLE")
        conn.commit()


# ---------------------------------------------------------------------------------------------------
# Deleting events
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_tenant_deletes_its_own_events_on_both_hypertables_and_nobody_elses(db_url: str) -> None:
    apply_and_seed(db_url, **SMALL)
    with psycopg.connect(db_url, autocommit=True) as owner, app_login(db_url) as login:
        tenant_a, tenant_b = tenant_ids(owner)
        per_tenant = "SELECT count(*) FROM {} WHERE tenant_id = %s"
        tables = ("listener_events", "attribution_events")
        b_before = {t: count(owner, per_tenant.format(t), tenant_b) for t in tables}
        a_recent = count(
            owner,
            "SELECT count(*) FROM listener_events "
            "WHERE tenant_id = %s AND event_time >= now() - interval '1 day'",
            tenant_a,
        )
        with app_session(db_url, login, tenant_a) as app:
            for table in tables:
                with pytest.raises(REFUSED), app.transaction():  # no DELETE privilege on the events
                    app.execute(f"DELETE FROM {table} WHERE event_time < now()")
                for target in (tenant_a, tenant_b):
                    # Naming the tenant trips TimescaleDB's planner (see the next test) before the
                    # executor's privilege check: refused either way, nothing deleted.
                    with pytest.raises((REFUSED, psycopg.errors.InternalError_)), app.transaction():
                        app.execute(f"DELETE FROM {table} WHERE tenant_id = %s", (target,))
            window = "SELECT delete_tenant_events('listener_events', now() - interval '1 day', 'infinity')"
            assert count(app, window) == a_recent > 0
            deleted = {t: count(app, "SELECT delete_tenant_events(%s)", t) for t in tables}
            app.commit()
            assert all(n > 0 for n in deleted.values()), deleted
            assert count(app, "SELECT count(*) FROM listener_events") == 0
            with pytest.raises(psycopg.errors.InvalidParameterValue), app.transaction():
                app.execute("SELECT delete_tenant_events('tenants')")
            app.execute("RESET app.tenant_id")
            with pytest.raises(REFUSED), app.transaction():
                app.execute("SELECT delete_tenant_events('listener_events')")
        for table in tables:
            assert count(owner, per_tenant.format(table), tenant_a) == 0
            assert count(owner, per_tenant.format(table), tenant_b) == b_before[table]  # untouched


@pytest.mark.slow
def test_timescaledb_still_fails_rls_delete_with_a_tenant_literal(db_url: str) -> None:
    """Why delete_tenant_events() exists: TimescaleDB 2.19 plans DELETE ... WHERE tenant_id = <literal>
    under the tenant policy into a gating Result that fails (timescale/timescaledb#6790, #5475). When
    this test fails, the upgrade fixed it and a plain DELETE could be allowed again (by policy only:
    chunks would still inherit a table-level DELETE grant)."""
    apply_and_seed(db_url, **SMALL)
    with psycopg.connect(db_url) as conn:
        tenant_a, _ = tenant_ids(conn)
        conn.execute("GRANT DELETE ON listener_events TO podcast_app")  # rolled back below
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_a,))
        with pytest.raises(psycopg.errors.InternalError_, match="variable not found in subplan target list"):
            conn.execute("DELETE FROM listener_events WHERE tenant_id = %s", (tenant_a,))
        conn.rollback()


# ---------------------------------------------------------------------------------------------------
# Composite tenant keys
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["db_url", "plain_db_url"])
def test_a_row_cannot_reference_another_tenants_parent(fixture: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(fixture)
    apply_and_seed(url, **SMALL)
    with psycopg.connect(url, autocommit=True) as owner, app_login(url) as login:
        tenant_a, tenant_b = tenant_ids(owner)
        podcast_b = owner.execute(
            "SELECT id FROM podcasts WHERE tenant_id = %s LIMIT 1", (tenant_b,)
        ).fetchall()[0][0]
        campaign_b = owner.execute(
            "SELECT id FROM campaigns WHERE tenant_id = %s LIMIT 1", (tenant_b,)
        ).fetchall()[0][0]
        episode = (
            "INSERT INTO episodes (tenant_id, podcast_id, title, duration_seconds) VALUES (%s, %s, 'x', 60)"
        )
        attribution = (
            "INSERT INTO attribution_events (event_time, tenant_id, campaign_id, event_type) "
            "VALUES (now(), %s, %s, 'click')"
        )
        for statement, parent in ((episode, podcast_b), (attribution, campaign_b)):
            with pytest.raises(psycopg.errors.ForeignKeyViolation):  # even the owner, who bypasses RLS
                owner.execute(statement, (tenant_a, parent))
        with app_session(url, login, tenant_a) as app:
            for statement, parent in ((episode, podcast_b), (attribution, campaign_b)):
                with pytest.raises(psycopg.errors.ForeignKeyViolation), app.transaction():
                    app.execute(statement, (tenant_a, parent))
            own_podcast = app.execute("SELECT id FROM podcasts LIMIT 1").fetchall()[0][0]
            app.execute(episode, (tenant_a, own_podcast))  # its own parent is fine
            app.commit()

        # ON DELETE SET NULL (col) empties the reference only; tenant_id stays.
        deal, user_id = owner.execute(
            "SELECT id, owner_user_id FROM deals WHERE owner_user_id IS NOT NULL LIMIT 1"
        ).fetchall()[0]
        tenant = owner.execute("SELECT tenant_id FROM deals WHERE id = %s", (deal,)).fetchall()[0][0]
        owner.execute("DELETE FROM users WHERE id = %s", (user_id,))
        after = owner.execute("SELECT tenant_id, owner_user_id FROM deals WHERE id = %s", (deal,)).fetchall()[
            0
        ]
        assert after == (tenant, None)
        assert by_name(run_health_checks(owner))["tenant foreign keys"].status == "pass"


def test_a_deal_for_another_tenant_is_refused_alike_whatever_that_tenant_is(pg_cluster: LocalCluster) -> None:
    """The deals feature trigger (SECURITY DEFINER) must not answer before row-level security does:
    another tenant with the feature, one without it and one that does not exist all get the same
    refusal, so tenant A learns nothing about them."""
    url = clone_template(pg_cluster, prefix="deals")
    try:
        with psycopg.connect(url, autocommit=True) as owner, app_login(url) as login:
            # The seed switches deals on for every other tenant (db/sql/seed.sql).
            flags = dict(
                owner.execute(
                    "SELECT tenant_id::text, coalesce((features->>'deals')::boolean, false) "
                    "FROM tenant_settings ORDER BY tenant_id"
                ).fetchall()
            )
            with_deals = next(t for t, on in flags.items() if on)
            acting = next(t for t in flags if t != with_deals)
            without = next((t for t, on in flags.items() if not on and t != acting), None)
            if without is None:  # make one: acting may be the only tenant without the feature
                without = next(t for t in flags if t not in (with_deals, acting))
                owner.execute("UPDATE tenant_settings SET features = '{}' WHERE tenant_id = %s", (without,))
            others = {"has deals": with_deals, "no deals": without, "no such tenant": str(uuid.uuid4())}
            answers = {}
            with app_session(url, login, acting) as app:
                for what, tenant in others.items():
                    try:
                        with app.transaction():
                            app.execute(
                                "INSERT INTO deals (tenant_id, sponsor_id, title) VALUES (%s, %s, 'probe')",
                                (tenant, str(uuid.uuid4())),
                            )
                        answers[what] = "inserted"
                    except psycopg.Error as exc:
                        answers[what] = f"{type(exc).__name__}: {exc.diag.message_primary}"
        assert len(set(answers.values())) == 1, answers
        assert answers["no deals"].startswith("InsufficientPrivilege: new row violates row-level security")
    finally:
        drop_database(pg_cluster, url)


# ---------------------------------------------------------------------------------------------------
# Upgrading a database that has the old shape, in place
# ---------------------------------------------------------------------------------------------------
def make_it_old(conn: psycopg.Connection) -> None:
    """Give a current database the shape the master file had before: single-column tenant keys, no
    UNIQUE (tenant_id, id), table-level app grants on the hypertables (copied to every chunk) and
    PUBLIC reading TimescaleDB's catalog."""
    keys = conn.execute(COMPOSITE_KEYS_SQL).fetchall()
    actions = {"c": "CASCADE", "n": "SET NULL", "a": "NO ACTION"}
    for table, name, column, parent, action in keys:
        conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        conn.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
            f"REFERENCES {parent} (id) ON DELETE {actions[action]}"
        )
    for name, table in conn.execute(
        "SELECT conname, conrelid::regclass::text FROM pg_constraint "
        "WHERE conname LIKE '%\\_tenant\\_id\\_id\\_key'"
    ).fetchall():
        conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    conn.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON listener_events, attribution_events TO podcast_app")
    for (relation,) in conn.execute(
        "SELECT c.oid::regclass::text FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE a.grantee = 'pg_database_owner'::regrole"
    ).fetchall():
        conn.execute(f"GRANT SELECT ON {relation} TO PUBLIC")
        conn.execute(f"REVOKE SELECT ON {relation} FROM pg_database_owner")
    assert len(keys) >= 20


def row_checksums(conn: psycopg.Connection) -> dict[str, tuple]:
    tables = conn.execute(
        "SELECT relname FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') ORDER BY 1"
    ).fetchall()
    return {
        t: conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM public.{t} x"
        ).fetchall()[0]
        for (t,) in tables
    }


LOCKS_SQL = """
SELECT l.mode, count(*) AS relations,
       string_agg(c.relname, ', ' ORDER BY c.relname)
           FILTER (WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')) AS public_tables
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relkind IN ('r', 'p')
GROUP BY 1 ORDER BY 1
"""


@pytest.mark.slow
def test_old_database_is_upgraded_in_place_without_losing_a_row(db_url: str) -> None:
    apply_and_seed(db_url, **SMALL)
    with psycopg.connect(db_url) as conn:
        current, rows = snapshot_catalog(conn), row_checksums(conn)
        make_it_old(conn)
        conn.commit()
        failing = {c.name for c in run_health_checks(conn) if c.status == "fail" and c.severity == "high"}
        assert {"app role isolation", "tenant foreign keys"} <= failing
        tenant_a, _ = tenant_ids(conn)
        chunk = conn.execute(CHUNKS_SQL, ("listener_events",)).fetchall()[0][0]
    with app_login(db_url) as login:
        with app_session(db_url, login, tenant_a) as app:
            seen_before = count(app, f"SELECT count(*) FROM {chunk}")
        with psycopg.connect(db_url) as conn:
            conn.execute(read_schema())
            locks = conn.execute(LOCKS_SQL).fetchall()  # inside the upgrade's transaction, before commit
            conn.commit()
            assert row_checksums(conn) == rows
            assert diff_catalogs(expected=current, actual=snapshot_catalog(conn)) == []
            assert [c for c in run_health_checks(conn) if c.status == "fail"] == []
        with app_session(db_url, login, tenant_a) as app, pytest.raises(REFUSED):
            app.execute(f"SELECT count(*) FROM {chunk}")
    print(f"\nrows of {chunk} the app role saw: {seen_before} before the upgrade, refused after")
    for mode, relations, public_tables in locks:
        print(f"  {mode}: {relations} tables/chunks; public: {public_tables}")
    assert seen_before > 0  # the old shape really was open


# ---------------------------------------------------------------------------------------------------
# Health: each way of opening it again fails a high-severity check, and the named SQL closes it
# ---------------------------------------------------------------------------------------------------
MEMBER = f"iso_member_{uuid.uuid4().hex[:8]}"
OPENINGS = {
    "chunk readable": (["GRANT SELECT ON {chunk} TO podcast_app"], "app role isolation"),
    "chunk writable by a login member": (
        [f"CREATE ROLE {MEMBER} LOGIN IN ROLE podcast_app", f"GRANT DELETE ON {{chunk}} TO {MEMBER}"],
        "app role isolation",
    ),
    "catalog readable": (["GRANT SELECT ON _timescaledb_catalog.hypertable TO PUBLIC"], "app role isolation"),
    "hypertable grant that new chunks copy": (
        ["GRANT SELECT ON public.listener_events TO podcast_app"],
        "app role isolation",
    ),
    "single-column tenant key": (
        [
            "ALTER TABLE public.deals DROP CONSTRAINT deals_owner_user_id_fkey",
            "ALTER TABLE public.deals ADD CONSTRAINT deals_owner_user_id_fkey FOREIGN KEY (owner_user_id) "
            "REFERENCES public.users (id) ON DELETE SET NULL",
        ],
        "tenant foreign keys",
    ),
    "rls disabled on a hypertable": (
        ["ALTER TABLE public.listener_events DISABLE ROW LEVEL SECURITY"],
        "row level security",
    ),
}
# The composite key is also missing while the single-column one stands in for it.
ALSO_FAILING = {"single-column tenant key": {"foreign keys"}}


@pytest.fixture(scope="module")
def health_conn(pg_cluster: LocalCluster) -> Iterator[psycopg.Connection]:
    url = clone_template(pg_cluster, prefix="iso")
    with psycopg.connect(url) as conn:
        yield conn
    drop_database(pg_cluster, url)


@pytest.mark.parametrize("case", sorted(OPENINGS))
def test_health_fails_high_when_isolation_opens_and_its_sql_closes_it(
    health_conn: psycopg.Connection, case: str
) -> None:
    statements, check_name = OPENINGS[case]
    conn = health_conn
    with conn.transaction(force_rollback=True):
        chunk = conn.execute(CHUNKS_SQL, ("listener_events",)).fetchall()[0][0]
        for statement in statements:
            conn.execute(statement.format(chunk=chunk))
        checks = run_health_checks(conn)
        failing = {c.name for c in checks if c.status == "fail"}
        assert failing - {check_name} <= ALSO_FAILING.get(case, set()), checks
        target = by_name(checks)[check_name]
        assert (target.status, target.severity) == ("fail", "high"), target
        for fix in FIX_STATEMENT.findall(target.fix):
            conn.execute(fix.strip())
        if "migrate" in target.fix:
            conn.execute(read_schema())
        assert [c for c in run_health_checks(conn) if c.status == "fail"] == [], target.fix


# ---------------------------------------------------------------------------------------------------
# A migrating role that is the database owner but not a superuser (the usual production set-up)
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_non_superuser_owner_closes_chunks_and_names_the_catalog_fix(pg_cluster: LocalCluster) -> None:
    owner_role, password = f"sf_owner_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(12)
    database = f"nsu_{uuid.uuid4().hex[:8]}"
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as su:
        su.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(owner_role), sql.Literal(password)
            )
        )
        su.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner_role)
            )
        )
    superuser_url = pg_cluster.url(database)
    owner_url = make_conninfo(superuser_url, user=owner_role, password=password)
    try:
        with psycopg.connect(superuser_url, autocommit=True) as su:
            su.execute("CREATE EXTENSION timescaledb")  # so the catalog belongs to someone else
            # Roles are the administrator's: this owner may not create podcast_app itself.
            su.execute(
                "DO $$ BEGIN IF to_regrole('podcast_app') IS NULL THEN CREATE ROLE podcast_app; END IF; "
                "END $$"
            )
        warnings: list[tuple[str, str]] = []
        with psycopg.connect(owner_url) as conn:
            conn.add_notice_handler(
                lambda d: warnings.append((d.message_primary or "", d.message_hint or ""))
            )
            conn.execute("SET client_min_messages = warning")
            conn.execute(read_schema())
            conn.commit()
            seed_data(conn, tenants=2, events=3000, days=5, seed=11)
            checks = by_name(run_health_checks(conn))
        # What the owner could close is closed; TimescaleDB's catalog, which only its superuser owner
        # can revoke and which holds no tenant rows, is a warning with that superuser's statement.
        reach, catalog = checks["app role isolation"], checks["timescaledb catalog readable"]
        assert (reach.status, reach.severity) == ("pass", "high"), reach
        assert catalog.status == "warn" and catalog.ok
        assert "_timescaledb_catalog.hypertable" in catalog.detail + catalog.fix
        assert catalog.fix.startswith("a superuser runs: REVOKE SELECT ON ")
        assert "_hyper_" not in reach.detail + catalog.detail  # the owner's own chunks were closed
        hint = next(h for m, h in warnings if "does not own" in m)
        with psycopg.connect(superuser_url, autocommit=True) as su:
            su.execute(hint.split("run: ", 1)[1])  # the statement the warning names, as the catalog's owner
        warnings.clear()
        with psycopg.connect(owner_url) as conn:
            conn.add_notice_handler(
                lambda d: warnings.append((d.message_primary or "", d.message_hint or ""))
            )
            conn.execute("SET client_min_messages = warning")
            conn.execute(read_schema())
            conn.commit()
            assert not [m for m, _ in warnings if "does not own" in m]
            assert [c for c in run_health_checks(conn) if c.status == "fail" and c.severity == "high"] == []
            assert count(conn, "SELECT hypertable_size('listener_events')") > 0  # still reads the catalog
        with psycopg.connect(superuser_url) as su:
            tenant_a, _ = tenant_ids(su)
            relations = su.execute(INTERNAL_RELATIONS_SQL).fetchall()
        with app_login(admin) as login, app_session(superuser_url, login, tenant_a) as app:
            assert_refused_everywhere(app, relations)
    finally:
        with psycopg.connect(admin, autocommit=True) as su:
            su.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            su.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(owner_role)))
