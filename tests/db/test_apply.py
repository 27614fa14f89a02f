"""apply_master_schema against real databases: all-or-nothing, lock handling, change report, history."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from db.catalog.snapshot import snapshot_catalog
from db.deploy.apply import apply_master_schema
from db.deploy.history import list_runs
from db.deploy.lock import release_migration_lock, try_acquire_migration_lock
from db.deploy.result import ApplyResult
from db.deploy.session import backoff_seconds
from db.errors import ApplyFailed, MigrationLocked
from db.schema.master_file import read_schema
from db.schema.statements import refuse_transaction_control

SCHEMAS = ("public", "schemaflow")
SMALL_SCHEMA = """
CREATE TABLE IF NOT EXISTS public.tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), slug text UNIQUE);
CREATE TABLE IF NOT EXISTS public.podcasts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES public.tenants (id),
    title text NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_podcasts_tenant_id ON public.podcasts (tenant_id);
"""


def _snapshot(url: str) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        return snapshot_catalog(conn, schemas=SCHEMAS)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'schemaflow')"
        ).fetchall()
    return {r[0] for r in rows}


def _history(url: str) -> list[dict]:
    with psycopg.connect(url, autocommit=True) as conn:
        return list_runs(conn)


def test_fresh_apply_creates_everything_and_a_rerun_changes_nothing(db_url: str) -> None:
    first = apply_master_schema(db_url, environment="test")
    created = {(c.kind, c.name) for c in first.changes if c.action == "created"}
    for table in ("tenants", "users", "podcasts", "episodes", "campaigns", "listener_events"):
        assert ("table", f"public.{table}") in created or ("hypertable", f"public.{table}") in created
    assert first.mode == "apache"
    # The file's DO block built (backfilled) the table form in the transaction: nothing after commit.
    assert [(s.statement, s.status) for s in first.post_commit_steps] == [
        ("SELECT * FROM public.refresh_metrics_daily(NULL)", "skipped")
    ]
    after_first = _snapshot(db_url)

    second = apply_master_schema(db_url, environment="test")
    assert second.changes == [], second.changes
    assert _snapshot(db_url) == after_first
    runs = _history(db_url)
    assert [(r["id"], r["outcome"], r["objects_changed"]) for r in runs] == [
        (second.history_id, "success", 0),
        (first.history_id, "success", first.objects_changed),
    ]
    assert runs[0]["checksum"] == first.checksum == second.checksum
    assert runs[0]["environment"] == "test" and runs[0]["db_user"] == "postgres"
    assert runs[0]["duration_seconds"] > 0


def test_dry_run_lists_the_plan_and_leaves_the_database_empty(db_url: str) -> None:
    before = _snapshot(db_url)
    plan = apply_master_schema(db_url, dry_run=True)
    assert plan.dry_run and plan.history_id is None and plan.post_commit_steps == []
    names = {c.name for c in plan.changes if c.action == "created"}
    assert {"public.tenants", "public.listener_events", "public.metrics_daily"} <= names
    assert _snapshot(db_url) == before
    assert _tables(db_url) == set()


def test_a_second_migration_fails_fast_naming_the_lock_holder(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True, application_name="other-deploy") as holder:
        assert try_acquire_migration_lock(holder)
        holder_pid = holder.info.backend_pid
        clock = time.monotonic()
        with pytest.raises(MigrationLocked) as caught:
            apply_master_schema(db_url, SMALL_SCHEMA)
        assert time.monotonic() - clock < 5
        assert f"pid {holder_pid}" in caught.value.message and "other-deploy" in caught.value.message
        release_migration_lock(holder)
    assert _tables(db_url) == set()


def test_a_blocking_transaction_makes_apply_retry_then_fail_cleanly_and_a_rerun_succeed(db_url: str) -> None:
    apply_master_schema(db_url, SMALL_SCHEMA)
    grown = SMALL_SCHEMA + (
        "CREATE TABLE IF NOT EXISTS public.episodes (id uuid PRIMARY KEY, title text);\n"
        "ALTER TABLE public.tenants ADD COLUMN IF NOT EXISTS note text;\n"
    )
    before = _snapshot(db_url)
    sleeps: list[float] = []
    with psycopg.connect(db_url) as blocker:
        blocker.execute("SELECT count(*) FROM public.tenants")  # ACCESS SHARE, held until rollback
        with pytest.raises(ApplyFailed) as caught:
            apply_master_schema(db_url, grown, lock_timeout="100ms", lock_retries=2, sleep=sleeps.append)
        assert len(sleeps) == 2 and sleeps[0] < sleeps[1]
        assert "gave up after 3 attempt(s)" in caught.value.message
        assert "55P03" in caught.value.message
        assert _snapshot(db_url) == before  # while the blocker is still there
        blocker.rollback()
    assert _snapshot(db_url) == before
    assert _history(db_url)[0]["outcome"] == "failed"

    rerun = apply_master_schema(db_url, grown)
    assert {(c.action, c.name) for c in rerun.changes} >= {("created", "public.episodes")}
    assert any(
        c.name == "public.tenants.note" or "note" in c.detail or c.name.endswith("note")
        for c in rerun.changes
    ), rerun.changes


def test_a_broken_statement_rolls_back_everything(db_url: str) -> None:
    text = read_schema()
    lines = text.splitlines(keepends=True)
    # A CREATE TABLE past the first third (the file's second half is DO blocks and grants).
    cut = next(i for i, line in enumerate(lines) if i > len(lines) // 3 and line.startswith("CREATE TABLE"))
    broken = "".join(lines[:cut]) + "CREATE TABLE public.broken (id no_such_type);\n" + "".join(lines[cut:])
    before = _snapshot(db_url)
    with pytest.raises(ApplyFailed) as caught:
        apply_master_schema(db_url, broken, record_history=False)
    assert f"at line {cut + 1}:" in caught.value.message
    assert 'type "no_such_type" does not exist' in caught.value.message
    assert _snapshot(db_url) == before
    assert _tables(db_url) == set()


def test_a_failed_run_is_recorded_after_the_rollback(db_url: str) -> None:
    with pytest.raises(ApplyFailed):
        apply_master_schema(db_url, SMALL_SCHEMA + "SELECT 1/0;\n", environment="staging")
    runs = _history(db_url)
    assert [(r["outcome"], r["environment"], r["objects_changed"]) for r in runs] == [
        ("failed", "staging", 0)
    ]
    assert "division by zero" in runs[0]["error_message"]
    assert _tables(db_url) == {"schemaflow.migration_history"}


def test_a_file_that_commits_by_itself_is_refused() -> None:
    with pytest.raises(ApplyFailed, match="line 3"):
        refuse_transaction_control("CREATE TABLE a (id int);\n\nCOMMIT;\n")
    # plpgsql BEGIN/END inside a DO block is not transaction control
    refuse_transaction_control("DO $$ BEGIN PERFORM 1; END $$;\n")


def test_backoff_grows_and_is_capped() -> None:
    waits = [backoff_seconds(n) for n in range(1, 10)]
    assert waits[0] < waits[2] < waits[4] and max(waits) <= 6.0


def test_plain_mode_never_refreshes_metrics_daily_in_a_deploy(plain_db_url: str) -> None:
    result = apply_master_schema(plain_db_url)
    assert result.mode == "plain"
    assert [s.status for s in result.post_commit_steps] == ["skipped"]
    assert "refresh_metrics_daily" in result.post_commit_steps[0].statement


CAGG_SCHEMA = """
CREATE TABLE IF NOT EXISTS public.listener_events (event_time timestamptz NOT NULL, episode_id int NOT NULL);
SELECT create_hypertable('public.listener_events', 'event_time', if_not_exists => TRUE);
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
                 WHERE view_name = 'metrics_daily') THEN
    CREATE MATERIALIZED VIEW public.metrics_daily WITH (timescaledb.continuous) AS
      SELECT time_bucket('1 day', event_time) AS day, episode_id, count(*) AS events
      FROM public.listener_events GROUP BY 1, 2 WITH NO DATA;
  END IF;
END $$;
"""


@pytest.mark.tsl
def test_tsl_continuous_aggregate_gets_its_first_refresh_after_commit(tsl_url: str) -> None:
    first = apply_master_schema(
        tsl_url, "CREATE EXTENSION IF NOT EXISTS timescaledb;\n" + CAGG_SCHEMA, record_history=False
    )
    assert first.mode == "tsl"
    assert [(s.statement, s.status) for s in first.post_commit_steps] == [
        ("CALL refresh_continuous_aggregate('public.metrics_daily', NULL, NULL)", "ok")
    ]
    second = apply_master_schema(tsl_url, CAGG_SCHEMA, record_history=False)
    assert [s.status for s in second.post_commit_steps] == ["skipped"]


def test_concurrent_runs_one_wins(db_url: str) -> None:
    """Two runs started together: exactly one applies, the other is refused with MigrationLocked."""
    slow = SMALL_SCHEMA + "SELECT pg_sleep(1);\n"
    outcomes: list[str] = []

    def run() -> None:
        try:
            apply_master_schema(db_url, slow)
            outcomes.append("applied")
        except MigrationLocked:
            outcomes.append("locked")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["applied", "locked"]
    assert [r["outcome"] for r in _history(db_url)] == ["success"]


def test_a_connection_lost_mid_apply_is_a_transient_error_and_nothing_is_kept(db_url: str) -> None:
    from db.errors import ConnectionFailed
    from tasks.apply import is_transient

    text = "CREATE TABLE IF NOT EXISTS half_done (id int);\nSELECT pg_sleep(30);\n"

    def kill_the_apply_session() -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            for _ in range(100):
                killed = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE '%pg_sleep(30)%' "
                    "AND pid <> pg_backend_pid()"
                ).fetchall()
                if killed:
                    return
                time.sleep(0.1)

    killer = threading.Thread(target=kill_the_apply_session)
    killer.start()
    with pytest.raises(ConnectionFailed, match="lost the connection") as info:
        apply_master_schema(db_url, sql_text=text, environment="test", lock_retries=0)
    killer.join()
    assert is_transient(info.value), "a lost connection must be retried by the apply task"
    assert "half_done" not in _tables(db_url)


LINE_CASES = {
    # name: (statements after SMALL_SCHEMA, the line's text the error must name, expected message)
    "unknown column": (
        "CREATE INDEX IF NOT EXISTS idx_podcasts_nope\n    ON public.podcasts (no_such_column);\n",
        "CREATE INDEX IF NOT EXISTS idx_podcasts_nope",
        'column "no_such_column" does not exist',
    ),
    "non-IMMUTABLE index expression": (
        "CREATE INDEX IF NOT EXISTS idx_podcasts_now\n    ON public.podcasts ((title || now()::text));\n",
        "CREATE INDEX IF NOT EXISTS idx_podcasts_now",
        "must be marked IMMUTABLE",
    ),
    "error inside a DO block": (
        "DO $$\nBEGIN\n  PERFORM 1;\n"
        "  INSERT INTO public.podcasts (id) VALUES (gen_random_uuid());\nEND $$;\n",
        "  INSERT INTO public.podcasts (id) VALUES (gen_random_uuid());",
        'null value in column "tenant_id"',
    ),
    "unknown column with a position, mid-statement": (
        "UPDATE public.podcasts\n   SET title = 'x'\n WHERE no_such_column = 1;\n",
        " WHERE no_such_column = 1;",
        'column "no_such_column" does not exist',
    ),
}


@pytest.mark.parametrize("case", list(LINE_CASES))
def test_every_error_names_its_line_in_the_file(db_url: str, case: str) -> None:
    tail, culprit, message = LINE_CASES[case]
    text = SMALL_SCHEMA + "-- a comment line; ünïcode before the failing statement\n" + tail
    expected_line = text.splitlines().index(culprit) + 1
    with pytest.raises(ApplyFailed) as caught:
        apply_master_schema(db_url, text, record_history=False)
    assert f"at line {expected_line}" in caught.value.message, caught.value.message
    assert message in caught.value.message
    assert _tables(db_url) == set()  # still all or nothing


def test_the_apply_session_checks_its_client_and_keeps_alive(db_url: str) -> None:
    probe = (
        "CREATE TABLE IF NOT EXISTS public.probe AS SELECT "
        "current_setting('client_connection_check_interval') AS check_interval, "
        "current_setting('tcp_keepalives_idle') AS keepalives_idle;\n"
    )
    apply_master_schema(db_url, probe, record_history=False)
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SELECT check_interval, keepalives_idle FROM public.probe").fetchone()
    assert row is not None and row[0] == "1s"
    # Over a Unix socket the server reports 0 for TCP settings; over TCP the value we set.
    assert row[1] in ("10", "0")


def test_a_failed_apply_carries_its_result_for_the_report(db_url: str) -> None:
    with pytest.raises(ApplyFailed) as caught:
        apply_master_schema(db_url, SMALL_SCHEMA + "SELECT 1/0;\n", environment="test")
    result = caught.value.result
    assert isinstance(result, ApplyResult)
    assert result.outcome.startswith("failed") and result.statements == 4 and result.history_id
