"""Data retention on real PostgreSQL + TimescaleDB (apache mode), a plain server and the TSL lane.

Events spread over 20 months: `enforce-retention --dry-run` names the chunks that would go and changes
nothing; the real run drops exactly the chunks that end before the window, while a writer's inserts
into the current chunk never wait as long as lock_timeout. Shrinking the window in the file is
destroys_data in `plan` with its counts, refused without the allowance and applied with it. In the
TSL lane the retention policy is created, compared (drift) and changed. A window changed by hand in
apache mode is a case of tests/db/plan/test_drift_coverage.py.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli.main import main
from db.deploy.health import run_health_checks
from db.deploy.retention import enforce_retention
from db.errors import HazardsNotAllowed
from db.plan.model import Hazard, Plan, Step
from db.plan.retention_hazards import retention_hazards
from tests.support.environments import use_test_environments
from tests.support.retention import (
    CHUNKS_SQL,
    CUTOFF_SQL,
    LIMITS,
    SPREAD_SQL,
    WRITE_SQL,
    deploy,
    spread,
    with_window,
)


def _retention_checks(conn: psycopg.Connection) -> list[Any]:
    return [c for c in run_health_checks(conn) if c.name.startswith("retention")]


def _windows_step(conn: psycopg.Connection, window: str) -> Step:
    """The step that would replace the live retention_windows() with listener_events kept `window`."""
    live = conn.execute("SELECT pg_get_functiondef('public.retention_windows()'::regprocedure)").fetchone()
    changed = live[0].replace("INTERVAL '13 months'", window, 1)  # type: ignore[index]
    assert changed != live[0]  # type: ignore[index]
    return Step(sql=changed, kind="function", name="public.retention_windows()", action="replace")


def _chunks(conn: psycopg.Connection) -> list[tuple[str, datetime]]:
    return conn.execute(CHUNKS_SQL).fetchall()


def test_a_dry_run_names_the_chunks_and_the_real_run_drops_exactly_them_without_blocking_writers(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    spread(db_url)
    use_test_environments(tmp_path, db_url, monkeypatch)
    with psycopg.connect(db_url, autocommit=True) as conn:
        before = _chunks(conn)
        count = conn.execute("SELECT count(*) FROM public.listener_events").fetchone()
        assert main(["enforce-retention", "--env", "dev", "--dry-run"]) == 0
        text = capsys.readouterr().out
        assert main(["enforce-retention", "--env", "dev", "--dry-run", "--json"]) == 0
        dry = json.loads(capsys.readouterr().out)
        assert _chunks(conn) == before  # a dry run changes nothing
        assert conn.execute("SELECT count(*) FROM public.listener_events").fetchone() == count
        assert conn.execute("SELECT to_regclass('schemaflow.retention_runs')").fetchone() == (None,)
        events = next(t for t in dry["tables"] if t["table"] == "public.listener_events")
        cutoff = datetime.fromisoformat(events["cutoff"])
        expected = {name for name, end in before if end <= cutoff}
        assert len(expected) > 60 and {c["name"].split(".")[1] for c in events["chunks"]} == expected
        assert not any(c["dropped"] for c in events["chunks"])
        assert (
            f"public.listener_events (keep 1 year 1 mon): would remove {len(expected)} whole chunk(s)" in text
        )
        assert {line.split()[0] for line in text.splitlines() if line.strip()} >= expected  # one a row
        assert "dry run: nothing was changed" in text
        assert db_url.split("@")[0].rsplit(":", 1)[1] not in text  # the password stays out
        stale = {c.name for c in _retention_checks(conn) if c.status == "fail"}
        assert stale == {"retention_window", "retention_enforced"}

    waits: list[float] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as writer:
                writer.execute("SET lock_timeout = '1s'")
                while not done.is_set():
                    clock = time.monotonic()
                    writer.execute(WRITE_SQL)
                    waits.append(time.monotonic() - clock)
        except BaseException as error:  # a lock timeout in the writer fails the test below
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            run = enforce_retention(conn, environment="test", lock_timeout="1s")
    finally:
        done.set()
        thread.join()
    print(f"\nretention: {len(waits)} inserts during the run, longest {max(waits):.3f} s")
    assert not errors and len(waits) > 10
    assert max(waits) < 1.0  # never as long as lock_timeout
    events = next(t for t in run.tables if t.table == "public.listener_events")
    assert events.chunks_dropped == len(expected) and events.chunks_left == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        after = _chunks(conn)
        assert {name for name, _ in after} == {name for name, _ in before} - expected
        cutoff = conn.execute(CUTOFF_SQL).fetchone()[0]  # type: ignore[index]
        oldest = conn.execute("SELECT min(event_time) FROM public.listener_events").fetchone()[0]  # type: ignore[index]
        assert oldest >= cutoff - timedelta(days=1)  # whole chunks only: at most one chunk interval older
        recorded = conn.execute(
            "SELECT chunks_dropped FROM schemaflow.retention_runs WHERE table_name = 'public.listener_events'"
        ).fetchall()
        assert recorded == [(len(expected),)]
        assert [(c.name, c.status) for c in _retention_checks(conn)] == [
            ("retention_window", "pass"),
            ("retention_enforced", "pass"),
        ]


def test_shrinking_the_window_is_destroys_data_with_its_counts_and_needs_the_allowance(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    spread(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        step = _windows_step(conn, "INTERVAL '24 months'")
        assert retention_hazards(conn, Plan((step,), "", "")).steps == (step,)  # growing removes nothing
        chunks = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'listener_events' AND range_end <= now() - INTERVAL '6 months'"
        ).fetchone()[0]  # type: ignore[index]

    shrunk_text = with_window("INTERVAL '6 months'")
    shrunk = tmp_path / "shrunk.sql"
    shrunk.write_text(shrunk_text)
    use_test_environments(tmp_path, db_url, monkeypatch)
    assert main(["plan", "--env", "dev", "--schema-file", str(shrunk)]) == 1
    shown = capsys.readouterr().out
    assert (
        "hazards: destroys_data" in shown
        and "why: retention of public.listener_events shrinks to 6 mons" in shown
    )
    assert f"deletes {chunks} chunk(s)" in shown
    with pytest.raises(HazardsNotAllowed, match="destroys_data") as refused:
        deploy(db_url, shrunk_text)
    [step] = refused.value.steps
    assert step.name == "public.retention_windows()" and Hazard.DESTROYS_DATA in step.hazards
    assert "shrinks to 6 mons from 1 year 1 mon" in step.reason
    assert f"{chunks} chunk(s)" in step.reason and f"~{chunks:,} row(s)" in step.reason  # one row a chunk
    with psycopg.connect(db_url) as conn:
        windows = dict(conn.execute("SELECT table_name, keep_for::text FROM public.retention_windows()"))
    assert windows == {"public.listener_events": "1 year 1 mon", "public.attribution_events": "1 year 1 mon"}
    deploy(db_url, shrunk_text, allow_hazards=("destroys_data",))
    with psycopg.connect(db_url) as conn:
        windows = dict(conn.execute("SELECT table_name, keep_for::text FROM public.retention_windows()"))
    assert windows == {"public.listener_events": "6 mons", "public.attribution_events": "1 year 1 mon"}


def test_plain_tables_lose_their_old_rows_in_bounded_batches(plain_db_url: str) -> None:
    deploy(plain_db_url)
    with psycopg.connect(plain_db_url) as conn:
        conn.execute(SPREAD_SQL)
        conn.commit()
    with psycopg.connect(plain_db_url, autocommit=True) as conn:
        old = conn.execute(
            "SELECT count(*) FROM public.listener_events WHERE event_time < now() - INTERVAL '13 months'"
        ).fetchone()[0]  # type: ignore[index]
        total = conn.execute("SELECT count(*) FROM public.listener_events").fetchone()[0]  # type: ignore[index]
        conn.execute("ANALYZE public.listener_events")
        # A shorter window on a plain table: the planner's estimate of the rows it removes, no scan.
        [shrink] = retention_hazards(conn, Plan((_windows_step(conn, "INTERVAL '6 months'"),), "", "")).steps
        assert Hazard.DESTROYS_DATA in shrink.hazards and "row(s) older than" in shrink.reason
        estimate = int(shrink.reason.split("deletes ~", 1)[1].split(" ", 1)[0].replace(",", ""))
        exact = conn.execute(
            "SELECT count(*) FROM public.listener_events WHERE event_time < now() - INTERVAL '6 months'"
        ).fetchone()[0]  # type: ignore[index]
        assert exact / 2 <= estimate <= exact * 2, (estimate, exact)
        dry = enforce_retention(conn, environment="test", dry_run=True)
        events = next(t for t in dry.tables if t.table == "public.listener_events")
        assert events.method == "batched_delete" and events.rows == old > 20
        run = enforce_retention(conn, environment="test", batch_rows=7)
        events = next(t for t in run.tables if t.table == "public.listener_events")
        assert events.rows == old
        left = conn.execute("SELECT count(*) FROM public.listener_events").fetchone()[0]  # type: ignore[index]
        assert left == total - old
        assert [
            c for c in run_health_checks(conn) if c.name.startswith("retention") and c.status == "fail"
        ] == []


POLICIES_SQL = """
SELECT hypertable_name, config ->> 'drop_after', scheduled FROM timescaledb_information.jobs
WHERE proc_name = 'policy_retention' ORDER BY 1
"""


@pytest.mark.tsl
def test_tsl_the_policy_is_created_compared_and_changed(tsl_url: str) -> None:
    from db.catalog.snapshot import snapshot_catalog
    from db.deploy.apply import apply_master_schema
    from db.plan.differences import diff_catalogs
    from db.plan.planner import plan_changes
    from db.plan.retention_hazards import retention_hazards

    apply_master_schema(tsl_url, environment="test", **LIMITS)  # type: ignore[arg-type]
    with psycopg.connect(tsl_url, autocommit=True) as conn:
        created = conn.execute(POLICIES_SQL).fetchall()
        assert created == [
            ("attribution_events", "1 year 1 mon", True),
            ("listener_events", "1 year 1 mon", True),
        ]
        conn.execute(SPREAD_SQL)
        conn.execute("ANALYZE public.listener_events")
        expected = snapshot_catalog(conn)
        # By hand: listener_events' policy widened to 5 years, attribution_events' paused.
        conn.execute("SELECT remove_retention_policy('public.listener_events')")
        conn.execute(
            "SELECT add_retention_policy('public.listener_events', drop_after => INTERVAL '5 years')"
        )
        conn.execute(
            "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_retention' AND hypertable_name = 'attribution_events'"
        )
        actual = snapshot_catalog(conn)
        drift = {(d.status, d.name) for d in diff_catalogs(expected, actual) if d.kind == "job"}
        assert drift == {
            ("changed", "public.listener_events.policy_retention"),
            ("changed", "public.attribution_events.policy_retention"),
        }
        plan = retention_hazards(conn, plan_changes(expected, actual))
        restore = next(
            s
            for s in plan.steps
            if s.name == "public.listener_events.policy_retention" and s.action == "create"
        )
        assert (
            "add_retention_policy('public.listener_events'" in restore.sql and "1 year 1 mon" in restore.sql
        )
        # Restoring 13 months where the hand-set policy kept 5 years deletes the old chunks: said so.
        assert Hazard.DESTROYS_DATA in restore.hazards and "chunk(s)" in restore.reason
    # The file run again, with a shorter window for listener_events: that policy changes, the paused
    # one is scheduled again.
    apply_master_schema(tsl_url, with_window("INTERVAL '6 months'"), environment="test", **LIMITS)  # type: ignore[arg-type]
    with psycopg.connect(tsl_url) as conn:
        assert conn.execute(POLICIES_SQL).fetchall() == [
            ("attribution_events", "1 year 1 mon", True),
            ("listener_events", "6 mons", True),
        ]


@pytest.mark.parametrize(
    "body",
    [
        "VALUES ('public.a', INTERVAL '1 month') UNION ALL SELECT relname::text, '1 day' FROM pg_class",
        "SELECT 'public.a', (SELECT pg_terminate_backend(pid) FROM pg_stat_activity LIMIT 1)::text::interval",
        "VALUES ('public.a', now() - now())",
    ],
)
def test_a_windows_function_that_is_not_constants_is_refused_before_it_runs_on_the_target(body: str) -> None:
    from db.errors import ConfigError
    from db.plan.retention_hazards import windows_in_definition

    definition = (
        "CREATE OR REPLACE FUNCTION public.retention_windows() RETURNS TABLE (table_name text, keep_for "
        f"interval) LANGUAGE sql IMMUTABLE AS $$ {body} $$"
    )
    with pytest.raises(ConfigError, match="not one VALUES list of constants"):
        windows_in_definition(None, definition)  # type: ignore[arg-type]  # refused before any query


def test_chunks_never_analyzed_are_an_unknown_number_of_rows_never_zero() -> None:
    from db.plan.retention_hazards import estimated_rows

    assert estimated_rows(5_000, 0, 11) == "~5,000 row(s)"
    assert estimated_rows(0, 11, 11) == "an unknown number of rows (none of the 11 chunk(s) analyzed yet)"
    assert (
        estimated_rows(72, 1, 3)
        == "~72 row(s) in the analyzed ones and an unknown number in 1 never analyzed"
    )
