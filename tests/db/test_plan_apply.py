"""Migrate's apply against real databases: whole file when empty, the plan when live, then proof."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from db.deploy.apply import TargetNotEmpty, apply_master_schema, file_tables, target_is_empty
from db.deploy.execute import execute_plan
from db.deploy.history import list_runs
from db.errors import ApplyFailed, CheckFailed, ConnectionFailed, HazardsNotAllowed
from db.local.seed import seed_data
from db.plan.database import plan_database
from db.run import plan_apply
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from tests.support.insert_load import InsertLoad

LIMITS = {"lock_timeout": "1s", "statement_timeout": "5min", "lock_retries": 3}
# Locks taken on schema tables by clients other than the test's own sessions and loads (autovacuum
# is not a deploy), sampled from pg_locks.
LOCKS_SQL = """
SELECT l.pid, l.mode, l.granted, c.relname FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE n.nspname = 'public' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND NOT (l.pid = ANY(%s)) AND a.application_name IS DISTINCT FROM 'read-load'
  AND a.application_name IS DISTINCT FROM 'insert-load' AND a.backend_type = 'client backend'
"""
TABLES_SQL = "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public'"
SEASON_TYPE_SQL = """
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'public.episodes'::regclass AND attname = 'season_number'
"""
# The open transactions (by pid) and the applications' read and insert loads (by name) waiting on a lock.
WAITING_SQL = """
SELECT a.application_name, l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND (l.pid = ANY(%s) OR a.application_name IN ('read-load', 'insert-load'))
"""
READS_SQL = """
SELECT (SELECT count(*) FROM public.podcasts), (SELECT max(event_time) FROM public.listener_events)
"""


def _apply(url: str, text: str, environment: str = "test", **kwargs: object) -> object:
    return apply_schema(url, text, environment=environment, **LIMITS, **kwargs)  # type: ignore[arg-type]


def test_the_file_s_tables_are_found_and_an_empty_database_gets_the_whole_file(db_url: str) -> None:
    text = read_schema()
    assert {"public.tenants", "public.listener_events"} <= set(file_tables(text))
    assert target_is_empty(db_url, text)
    first = _apply(db_url, text)
    assert first.method == "file" and first.outcome == "committed"  # type: ignore[attr-defined]
    assert not target_is_empty(db_url, text)


def _another_migrate_right_after_the_empty_check(
    url: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real emptiness check, then another migrate builds the schema before this one locks."""
    check = plan_apply.target_is_empty

    def check_then_build(*args: object) -> bool:
        empty = check(*args)  # type: ignore[arg-type]
        apply_master_schema(url, text, environment="other")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP INDEX public.idx_podcasts_tenant_id")  # one step for this run's plan
        return empty

    monkeypatch.setattr(plan_apply, "target_is_empty", check_then_build)


def test_tables_built_between_the_empty_check_and_the_lock_get_a_plan_not_the_whole_file(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emptiness check reads before the migration lock; the whole file checks again under it."""
    text = read_schema()
    _another_migrate_right_after_the_empty_check(db_url, text, monkeypatch)
    said: list[str] = []
    result = _apply(db_url, text, log=said.append)
    assert result.method == "plan", result.method  # type: ignore[attr-defined]
    assert [c.name for c in result.changes] == ["public.idx_podcasts_tenant_id"]  # type: ignore[attr-defined]
    assert any("of the schema's tables (public." in line and "planning instead" in line for line in said)
    with psycopg.connect(db_url, autocommit=True) as conn:
        runs = list_runs(conn, "test", limit=5)
        assert [r["objects_changed"] for r in runs] == [1]  # the refused whole file left no row
        with pytest.raises(TargetNotEmpty) as grown:
            apply_master_schema(
                db_url, text, environment="test", absent_tables=["public.nope", *file_tables(text)]
            )
        assert grown.value.present[:2] == file_tables(text)[:2] and "public.nope" not in grown.value.present
        assert len(list_runs(conn, "test", limit=5)) == 1


def test_an_approval_of_the_empty_database_is_refused_when_its_tables_appear_before_the_lock(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = read_schema()
    approved = plan_database(db_url, text)
    _another_migrate_right_after_the_empty_check(db_url, text, monkeypatch)
    with pytest.raises(CheckFailed, match=r"was approved, but the plan is now .*the database \(catalog"):
        _apply(db_url, text, approved=approved)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.idx_podcasts_tenant_id')").fetchone() == (None,)
        assert list_runs(conn, "test", limit=5) == []


def test_a_no_op_deploy_takes_no_lock_beyond_access_share_and_nobody_waits_for_it(db_url: str) -> None:
    text = read_schema()
    _apply(db_url, text)
    with psycopg.connect(db_url) as conn:
        seed_data(conn, tenants=2, events=2_000, days=5)
    own: list[int] = []
    taken: set[tuple[str, str]] = set()
    waited: list[tuple[str, str]] = []
    reads: list[float] = []
    stop = threading.Event()

    def read_load() -> None:  # an application's reads while the deploy runs, each timed
        with psycopg.connect(db_url, autocommit=True, application_name="read-load") as conn:
            while not stop.is_set():
                clock = time.monotonic()
                conn.execute(READS_SQL)
                reads.append(time.monotonic() - clock)
                stop.wait(0.04)

    with psycopg.connect(db_url) as reader, psycopg.connect(db_url) as writer, \
         psycopg.connect(db_url, autocommit=True) as sampler:  # fmt: skip
        own += [reader.info.backend_pid, writer.info.backend_pid, sampler.info.backend_pid]
        tables = [r[0] for r in reader.execute(TABLES_SQL).fetchall()]
        for table in tables:  # an open transaction that has read every table, and one that writes
            reader.execute(f"SELECT count(*) FROM {table}")  # type: ignore[arg-type]
            writer.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")  # type: ignore[arg-type]

        def sample() -> None:
            while not stop.is_set():
                for _pid, mode, _granted, rel in sampler.execute(LOCKS_SQL, (own,)).fetchall():
                    taken.add((mode, rel))
                waited.extend(sampler.execute(WAITING_SQL, (own[:2],)).fetchall())  # type: ignore[arg-type]
                time.sleep(0.01)

        threads = [threading.Thread(target=sample), threading.Thread(target=read_load)]
        for thread in threads:
            thread.start()
        try:
            with InsertLoad(db_url, rate=25) as writes:
                time.sleep(0.5)  # the loads run before the deploy starts
                result = _apply(db_url, text, environment="staging")
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    print(f"\nduring the no-op deploy: inserts {writes.report.summary()}; "
          f"{len(reads)} reads, max {max(reads, default=0) * 1000:.1f} ms")  # fmt: skip
    assert result.method == "plan" and result.steps == [] and result.objects_changed == 0  # type: ignore[attr-defined]
    assert {mode for mode, _ in taken} <= {"AccessShareLock"}, taken
    # Sampled every 10 ms, no session (open transactions or loads) was ever seen waiting for a lock: no
    # read or write waited on the deploy for as long as one sample. Their latencies (printed) also carry
    # the 2-core machine's CPU contention, so they are not asserted.
    assert waited == []
    assert writes.report.failures == [] and len(writes.report.latencies) >= 10 and len(reads) >= 10
    with psycopg.connect(db_url, autocommit=True) as conn:
        runs = list_runs(conn)
    assert (runs[0]["outcome"], runs[0]["objects_changed"]) == ("success", 0)


def test_an_added_index_runs_as_a_planned_step_and_the_post_condition_holds(db_url: str) -> None:
    text = read_schema()
    _apply(db_url, text)
    with psycopg.connect(db_url) as conn:
        seed_data(conn, tenants=2, events=2_000, days=5)
    grown = text + "\nCREATE INDEX IF NOT EXISTS idx_episodes_title ON public.episodes (title);\n"
    result = _apply(db_url, grown, environment="staging")
    assert result.method == "plan" and [s["status"] for s in result.steps] == ["done"]  # type: ignore[attr-defined]
    assert "CONCURRENTLY" in result.steps[0]["sql"] and result.steps[0]["where"] == "online"  # type: ignore[attr-defined]
    assert result.notices == []  # type: ignore[attr-defined]  # the planned SQL passes Squawk
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.idx_episodes_title')").fetchone() != (None,)
        runs = list_runs(conn)
    assert (runs[0]["outcome"], runs[0]["objects_changed"]) == ("success", 1)
    # The plan it ran is on its history row, approved or not (it was null unless approved).
    assert runs[0]["plan_checksum"] == result.plan_checksum and len(result.plan_checksum) == 64


def test_a_column_type_change_is_refused_on_staging_and_applies_with_the_allowance(db_url: str) -> None:
    text = read_schema()
    _apply(db_url, text)
    with psycopg.connect(db_url) as conn:
        seed_data(conn, tenants=2, events=2_000, days=5)
    old = "    season_number   integer CHECK (season_number > 0),"
    assert text.count(old) == 1
    retyped = text.replace(old, "    season_number   bigint CHECK (season_number > 0),")
    with pytest.raises(HazardsNotAllowed) as caught:
        _apply(db_url, retyped, environment="staging")
    assert "rewrites_table" in caught.value.message and "--allow-hazard rewrites_table" in (
        caught.value.hint or ""
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute(SEASON_TYPE_SQL).fetchone() == ("integer",)
    kinds = sorted({str(h) for s in caught.value.steps for h in s.hazards})
    dry = _apply(db_url, retyped, environment="staging", dry_run=True)
    assert any("squawk: step" in n and "changing-column-type" in n for n in dry.notices), dry.notices  # type: ignore[attr-defined]
    result = _apply(db_url, retyped, environment="staging", allow_hazards=kinds)
    assert result.method == "plan" and all(s["status"] == "done" for s in result.steps)  # type: ignore[attr-defined]
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute(SEASON_TYPE_SQL).fetchone() == ("bigint",)


def test_an_approved_plan_runs_only_while_it_is_still_the_plan_and_then_meets_the_post_condition(
    db_url: str, tmp_path: Path
) -> None:
    text = read_schema()
    _apply(db_url, text)
    grown = text + "\nCREATE INDEX IF NOT EXISTS idx_episodes_title ON public.episodes (title);\n"
    approved = plan_database(db_url, grown)
    assert [s.name for s in approved.steps] == ["public.idx_episodes_title"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("COMMENT ON TABLE public.plans IS 'changed after the review'")
    with pytest.raises(CheckFailed, match=r"the database \(catalog \w+, now \w+\) changed since") as moved:
        _apply(db_url, grown, environment="staging", approved=approved)
    assert "nothing was changed" in moved.value.message
    other = grown + "\nCREATE INDEX IF NOT EXISTS idx_episodes_number ON public.episodes (episode_number);\n"
    approved = plan_database(db_url, grown)
    with pytest.raises(CheckFailed, match="the schema file changed since"):
        _apply(db_url, other, environment="staging", approved=approved)
    # A pending one-off was not part of what the reviewer saw: refused, whatever the plan.
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20261201090000_comment.sql").write_text("COMMENT ON TABLE public.plans IS NULL;\n")
    with pytest.raises(CheckFailed, match=r"one-off migration\(s\) pending \(20261201090000_comment\.sql\)"):
        _apply(db_url, grown, environment="staging", approved=approved, migrations_dir=folder)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.idx_episodes_title')").fetchone() == (None,)
        assert conn.execute("SELECT obj_description('public.plans'::regclass)").fetchone() == (
            "changed after the review",
        )

    result = _apply(db_url, grown, environment="staging", approved=approved)
    assert result.method == "plan" and result.plan_checksum == approved.checksum  # type: ignore[attr-defined]
    assert len(approved.steps) == 2  # the index, and the hand-made comment undone
    assert [s["status"] for s in result.steps] == ["done", "done"]  # type: ignore[attr-defined]
    assert plan_database(db_url, grown).is_empty


def test_a_plan_whose_database_changed_before_the_lock_runs_no_step(db_url: str) -> None:
    """Planning happens before the migration lock: the executor reads the catalog again under it."""
    text = read_schema()
    _apply(db_url, text)
    grown = text + "\nCREATE INDEX IF NOT EXISTS idx_episodes_title ON public.episodes (title);\n"
    plan = plan_database(db_url, grown)
    with psycopg.connect(db_url, autocommit=True) as conn:  # another migrate, or a person, meanwhile
        conn.execute("CREATE INDEX idx_plans_name ON public.plans (name)")
    with pytest.raises(ApplyFailed, match=r"the database changed after plan \w+ was computed") as moved:
        execute_plan(db_url, plan, environment="staging")
    assert "nothing was changed" in moved.value.message and "run migrate again" in (moved.value.hint or "")
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.idx_episodes_title')").fetchone() == (None,)
    again = plan_database(db_url, grown)  # planned as it is now: runs
    assert [s.status for s in execute_plan(db_url, again, environment="staging").steps] == ["done", "done"]


def test_a_server_lost_after_the_steps_ran_fails_for_good_and_says_they_ran(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect retries transient failures; once the steps ran, a retry would report a run that did
    nothing (or, under an approval, refuse a database that "changed"). The post-condition's connect
    is made to fail the way a failover makes it fail: the one fault injected into a real run."""
    from tasks.apply import is_transient

    text = read_schema()
    _apply(db_url, text)
    grown = text + "\nCREATE INDEX IF NOT EXISTS idx_episodes_title ON public.episodes (title);\n"
    approved = plan_database(db_url, grown)
    real, calls = plan_apply.plan_database, []

    def failover_after_the_steps(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:  # the post-condition: execute_plan has run the index build
            raise ConnectionFailed("cannot reach a PostgreSQL server at db:5432: connection refused")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_apply, "plan_database", failover_after_the_steps)
    with pytest.raises(ApplyFailed, match=r"the plan's 1 step\(s\) ran, but checking the result failed") as e:
        _apply(db_url, grown, environment="staging", approved=approved)
    assert not is_transient(e.value)  # Prefect does not run it again
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.idx_episodes_title')").fetchone() != (None,)
        row = list_runs(conn, "staging", limit=1)[0]
    assert row["outcome"] == "failed" and "step(s) ran" in row["error_message"]
