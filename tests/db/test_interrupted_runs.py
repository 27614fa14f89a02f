"""Interrupted runs tell what committed, and the next run says what it finished (issue 21).

Each case ends a run part way on real PostgreSQL + TimescaleDB: a post-condition that fails after two
online index builds committed, a server restart (`pg_ctl restart -m immediate`) during an online
index build and during a batched backfill, and a killed process while a production run waits for
approval. The restarts happen on a cluster of this module's own, so the session's shared cluster
(and every other test's database on it) never goes down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from db.deploy.history import list_runs
from db.errors import ApplyFailed
from db.local.cluster import PG_BIN, LocalCluster, as_server_user, free_port
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from tests.support.environments import use_test_environments
from tests.support.seeded import apply_and_seed

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"lock_timeout": "1s", "statement_timeout": "5min", "lock_retries": 1}
SMALL_SEED = {"tenants": 1, "events": 500, "days": 5}  # enough rows for online steps and batches
# An index whose build takes seconds while schemaflow_test.slow is on: time to interrupt it.
SLOW_INDEX = """
CREATE OR REPLACE FUNCTION public.slow_id(n integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF current_setting('schemaflow_test.slow', true) = 'on' THEN PERFORM pg_sleep(1); END IF;
    RETURN n;
END $$;
CREATE INDEX IF NOT EXISTS idx_podcasts_slow ON public.podcasts (public.slow_id(length(title)));
"""
# A backfill of 10-row batches, each taking ~0.1 s: a restart lands between committed batches.
SLOW_BACKFILL = "20261207100000_slow_region.sql"
SLOW_BACKFILL_SQL = """-- schemaflow: batch 10
UPDATE public.listener_events SET region = 'r4' || left(pg_sleep(0.01)::text, 0)
WHERE region IS DISTINCT FROM 'r4';
"""
BUILDING_SQL = "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'CREATE INDEX CONC%%'"
BATCHES_SQL = "SELECT 1 FROM schemaflow.migration_backfill WHERE batches >= 2"


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[LocalCluster]:
    """A cluster for this module alone: its tests restart it with `pg_ctl restart -m immediate`."""
    base = Path(tempfile.mkdtemp(prefix="schemaflow-test-restart-"))
    base.chmod(0o755)  # the server runs as the postgres OS user when tests run as root
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port())
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def small_url(own_cluster: LocalCluster) -> str:
    """A migrated database on the module's cluster with a few rows in every table."""
    name = f"r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(own_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = own_cluster.url(name)
    apply_and_seed(url, **SMALL_SEED)
    return url


def restart_when(cluster: LocalCluster, url: str, ready: str) -> threading.Thread:
    """A thread that restarts `cluster` immediately (a crash: no checkpoint, sessions cut) as soon
    as the query `ready` returns a row on `url`."""

    def watch() -> None:
        deadline = time.monotonic() + 180
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                try:
                    if conn.execute(ready).fetchone():  # type: ignore[arg-type]  # a test constant
                        break
                except psycopg.errors.UndefinedTable:  # the run has not created it yet
                    pass
                time.sleep(0.05)
            else:
                return
        pg_ctl = [str(PG_BIN / "pg_ctl"), "restart", "-m", "immediate", "-w", "-D", str(cluster.datadir)]
        # The restarted server must not hold the test's pipes open: its output goes to its log.
        subprocess.run(
            as_server_user([*pg_ctl, "-l", str(cluster.logfile)]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd="/", check=True, timeout=120,
        )  # fmt: skip

    thread = threading.Thread(target=watch, name="restart-server", daemon=True)
    thread.start()
    return thread


def set_slow(url: str, on: bool) -> None:
    database = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url, autocommit=True) as conn:
        setting = sql.SQL("SET schemaflow_test.slow = 'on'") if on else sql.SQL("RESET schemaflow_test.slow")
        conn.execute(sql.SQL("ALTER DATABASE {} ").format(sql.Identifier(database)) + setting)


def last_run(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        return list_runs(conn, limit=1)[0]


def index_valid(url: str, name: str) -> bool | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,)
        ).fetchone()
    return None if row is None else bool(row[0])


def failure_artifact(environment: str) -> str:
    """The newest `migrate-<environment>-failure` artifact's markdown on the session's Prefect server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"migrate-{environment}-failure"]))
        )
    return str(max(found, key=lambda a: a.created).data) if found else ""


# Comments on a table each time an index is created: the catalog moves under the run, as another
# session or tool would move it, so the post-condition finds a difference after the builds committed.
# In the schemaflow schema, which the plan leaves out.
TOUCH_PLANS = """
CREATE SCHEMA IF NOT EXISTS schemaflow;
CREATE OR REPLACE FUNCTION schemaflow.touch_plans() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN COMMENT ON TABLE public.plans IS 'touched by an event trigger'; END $$;
CREATE EVENT TRIGGER touch_plans ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
    EXECUTE FUNCTION schemaflow.touch_plans();
"""
TWO_INDEXES = (
    "\nCREATE INDEX IF NOT EXISTS idx_episodes_title_pc ON public.episodes (title);"
    "\nCREATE INDEX IF NOT EXISTS idx_podcasts_title_pc ON public.podcasts (title);\n"
)


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_post_condition_after_two_committed_online_steps_names_them_and_the_next_run_repairs(
    seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.migrate import migrate

    clock = time.monotonic()
    root = use_test_environments(tmp_path, seeded_url, monkeypatch)
    schema = root / "two_indexes.sql"
    schema.write_text(read_schema() + TWO_INDEXES)
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute(TOUCH_PLANS)
    state = migrate(environment="dev", schema_file=str(schema), run_expectations=False, return_state=True)
    assert state.is_failed()
    report = (root / "logs" / "migrate-dev.log").read_text()
    assert "1 difference(s) remain against the schema file: alter comment table public.plans" in report
    assert "committed: step 1 (CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_episodes_title_pc" in report
    assert "step 2 (CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_podcasts_title_pc" in report
    assert "nothing was changed" not in report.lower(), report
    artifact = failure_artifact("dev")
    assert "failed at: **apply-committed**" in artifact and "Some changes WERE committed" in artifact
    assert "Nothing was changed" not in artifact, artifact
    failed = last_run(seeded_url)
    assert (failed["outcome"], failed["objects_changed"]) == ("failed", 2), failed
    assert "committed: step 1" in failed["error_message"]

    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute("DROP EVENT TRIGGER touch_plans")
    # The next run's report line (the flow's, shown by the restart test below) is the result's `repaired`.
    rerun = apply_schema(seeded_url, schema.read_text(), environment="dev", **LIMITS)  # type: ignore[arg-type]
    assert rerun.repaired.startswith(f"run #{failed['id']} (failed, started "), rerun.repaired
    ran = "this run planned against what it left and ran: step 1 (COMMENT ON TABLE public.plans IS"
    assert ran in rerun.repaired, rerun.repaired
    print(f"\npost-condition failure and the repairing run: {time.monotonic() - clock:.1f} s")


@pytest.mark.usefixtures("prefect_harness")
def test_a_server_restart_during_an_online_index_build_is_reported_recorded_and_repaired(
    own_cluster: LocalCluster, small_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.migrate import migrate

    clock = time.monotonic()
    root = use_test_environments(tmp_path, small_url, monkeypatch)
    schema = root / "slow.sql"
    schema.write_text(read_schema() + SLOW_INDEX)
    set_slow(small_url, True)
    restart = restart_when(own_cluster, small_url, BUILDING_SQL)
    state = migrate(environment="dev", schema_file=str(schema), run_expectations=False, return_state=True)
    restart.join(timeout=120)
    assert state.is_failed()
    report = (root / "logs" / "migrate-dev.log").read_text()
    assert "## Changes\n\nnot run" not in report, report
    assert "server closed the connection" in report or "terminating connection" in report, report
    assert "committed: step 1 (CREATE OR REPLACE FUNCTION public.slow_id" in report, report
    assert "not committed: step 2 (CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_podcasts_slow" in report
    assert "an index a build left invalid is dropped and built again" in report
    failed = last_run(small_url)  # written once the server answered again
    assert (failed["outcome"], failed["objects_changed"]) == ("failed", 1), failed
    assert "not committed: step 2 (CREATE INDEX CONCURRENTLY" in failed["error_message"]
    assert index_valid(small_url, "public.idx_podcasts_slow") is False  # the crash left it INVALID
    restarted = time.monotonic() - clock

    set_slow(small_url, False)
    state = migrate(environment="dev", schema_file=str(schema), run_expectations=False, return_state=True)
    assert state.is_completed(), state.message
    report = (root / "logs" / "migrate-dev.log").read_text()
    assert f"- repaired: run #{failed['id']} (failed, started " in report, report
    assert "step 1 (DROP INDEX CONCURRENTLY IF EXISTS public.idx_podcasts_slow)" in report, report
    assert "step 2 (CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_podcasts_slow" in report
    assert index_valid(small_url, "public.idx_podcasts_slow") is True
    print(f"\nrestart mid index build: {restarted:.1f} s; repairing run: {time.monotonic() - clock:.1f} s")


def test_a_server_restart_during_a_batched_backfill_names_the_committed_batches_and_the_next_run_continues(
    own_cluster: LocalCluster, small_url: str, tmp_path: Path
) -> None:
    clock = time.monotonic()
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / SLOW_BACKFILL).write_text(SLOW_BACKFILL_SQL)
    restart = restart_when(own_cluster, small_url, BATCHES_SQL)
    with pytest.raises(ApplyFailed) as caught:
        apply_schema(small_url, read_schema(), environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    restart.join(timeout=120)
    message = caught.value.message
    assert message.startswith(f"{SLOW_BACKFILL}: a backfill transaction failed"), message
    assert "committed: one-off 20261207100000_slow_region.sql statement 1: backfill of " in message
    assert "not committed: one-off 20261207100000_slow_region.sql;" in message
    assert "a partly done backfill continues after its last committed batch" in message
    result = caught.value.result
    assert result is not None and result.outcome.startswith("failed: a one-off backfill is partly done")
    failed = last_run(small_url)
    assert failed["outcome"] == "failed" and failed["objects_changed"] == 1, failed
    with psycopg.connect(small_url, autocommit=True) as conn:
        batches = conn.execute("SELECT batches FROM schemaflow.migration_backfill").fetchone()[0]  # type: ignore[index]
    assert batches >= 2 and f"backfill of {batches} batch(es)" in message, (batches, message)
    restarted = time.monotonic() - clock

    rerun = apply_schema(small_url, read_schema(), environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    assert rerun.repaired.startswith(f"run #{failed['id']} (failed, started "), rerun.repaired
    resumed = f"one-off 1 ({SLOW_BACKFILL}: public.listener_events: resumed after batch {batches};"
    assert resumed in rerun.repaired, rerun.repaired
    assert "the last found no matching row: 0 rows match" in rerun.repaired
    print(f"\nrestart mid backfill: {restarted:.1f} s; continuing run: {time.monotonic() - clock:.1f} s")


APPROVAL_ENVIRONMENTS = """
[environments.production]
require_backup = true
require_confirmation = true
require_approval = true
approval_timeout = "10min"
"""
PAUSED_RUN = """
import sys
from flows.migrate import migrate
migrate(environment="production", schema_file=sys.argv[1], run_expectations=False)
"""


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_killed_while_paused_for_approval_is_settled_by_the_next_run_of_its_environment(
    seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL

    from flows.migrate import migrate
    from tests.support.environments import write_test_environments

    clock = time.monotonic()
    root = write_test_environments(tmp_path, seeded_url, monkeypatch, APPROVAL_ENVIRONMENTS)
    schema = root / "comment.sql"
    schema.write_text(read_schema() + "\nCOMMENT ON TABLE public.plans IS 'awaiting approval';\n")
    log = root / "logs" / "migrate-production.log"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSED_RUN, str(schema)], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while "## Plan and approval" not in (log.read_text() if log.exists() else ""):
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() - clock < 240, "the run never reached its approval pause"
            time.sleep(0.2)
        time.sleep(1)  # into the pause itself, past the report written before it
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the worker and the run with it: no handler runs
        process.wait(timeout=30)
    paused = log.read_text()
    assert "- outcome: **RUNNING**" in paused and "## Plan and approval" in paused, paused
    run_name = next(line for line in paused.splitlines() if line.startswith("- flow run: "))[12:]

    state = migrate(environment="production", schema_file=str(schema), plan_only=True, return_state=True)
    assert state.is_completed(), state.message
    report = log.read_text()
    assert "- outcome: **RUNNING**" not in report and "- outcome: **SUCCESS**" in report, report
    assert f"- settled: the previous run's report ({run_name}, started " in report, report
    assert "was left RUNNING by a process that died" in report
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        comment = conn.execute("SELECT obj_description('public.plans'::regclass)").fetchone()
    assert comment != ("awaiting approval",)  # nothing was applied without an approval
    print(f"\nkilled in the approval pause and settled: {time.monotonic() - clock:.1f} s")
