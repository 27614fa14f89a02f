"""No orphans: a killed or terminated apply leaves no server session, no lock, and nothing applied.

Each test runs the apply in a real subprocess against a real cluster, with a schema file whose
apply is slow (a pg_sleep statement after a CREATE TABLE), and kills it while that statement runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from db.connection.connect import APPLICATION_NAME
from db.deploy.apply import apply_master_schema
from db.deploy.history import list_runs
from db.deploy.lock import release_migration_lock, try_acquire_migration_lock
from tests.support.environments import use_test_environments

ROOT = Path(__file__).resolve().parents[2]
SLOW_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS public.half_done (id int PRIMARY KEY);\nSELECT pg_sleep({seconds});\n"
)
# A small driver: apply_master_schema in its own process; `--no-check` drops the session settings
# so the control case shows what an orphan looked like before.
DRIVER = """
import sys
from db.deploy import apply, session
if sys.argv[3] == "--no-check":
    session.SESSION_SETTINGS = ()
apply.apply_master_schema(sys.argv[1], sys.argv[2], environment="test", lock_retries=0)
"""
ORPHAN_BOUND_SECONDS = 5.0  # the bound


def _sessions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND pid <> pg_backend_pid()",
            (APPLICATION_NAME,),
        ).fetchall()


def _wait_for_sleep(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the apply session runs the file's pg_sleep (the apply is mid-transaction)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the apply ended before it reached its slow statement"
            row = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND query LIKE 'SELECT pg_sleep(%%'"
            ).fetchone()
            if row:
                return
            time.sleep(0.05)
    pytest.fail("the apply never reached its pg_sleep statement")


def _seconds_until_no_session(url: str, limit: float) -> float:
    clock = time.monotonic()
    while time.monotonic() - clock < limit:
        if not _sessions(url):
            return time.monotonic() - clock
        time.sleep(0.1)
    return float("inf")


def _lock_is_free(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        if try_acquire_migration_lock(conn):
            release_migration_lock(conn)
            return True
    return False


def _has_table(url: str, name: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone() == (True,)


def _start_driver(url: str, text: str, flag: str = "") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, url, text, flag or "-"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_kill_9_mid_apply_leaves_no_session_and_a_rerun_succeeds(db_url: str) -> None:
    driver = _start_driver(db_url, SLOW_SCHEMA.format(seconds=60))
    _wait_for_sleep(db_url, driver)
    driver.kill()  # SIGKILL: no handler, no cleanup on the client side at all
    driver.wait(timeout=10)
    gone_after = _seconds_until_no_session(db_url, ORPHAN_BOUND_SECONDS)
    print(f"\nserver session gone {gone_after:.2f} s after kill -9")
    assert gone_after < ORPHAN_BOUND_SECONDS, _sessions(db_url)
    assert _lock_is_free(db_url)
    assert not _has_table(db_url, "public.half_done")

    rerun = apply_master_schema(db_url, SLOW_SCHEMA.format(seconds=0), environment="test")
    assert ("created", "public.half_done") in {(c.action, c.name) for c in rerun.changes}


def test_without_the_connection_check_a_killed_client_leaves_an_orphan(db_url: str) -> None:
    """The control: the same kill with the session settings removed leaves the statement running."""
    driver = _start_driver(db_url, SLOW_SCHEMA.format(seconds=8), "--no-check")
    _wait_for_sleep(db_url, driver)
    driver.kill()
    driver.wait(timeout=10)
    time.sleep(3)
    orphans = _sessions(db_url)
    assert orphans, "expected the orphan the settings exist to prevent"
    assert not _lock_is_free(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (orphans[0][0],))


@pytest.mark.usefixtures("prefect_harness")
def test_sigterm_cancels_the_statement_prints_one_message_and_is_not_retried(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real command, its flow run sent to the session's Prefect server: SIGTERM mid-apply."""
    from prefect.settings import PREFECT_API_URL

    use_test_environments(tmp_path, db_url, monkeypatch)
    schema = tmp_path / "slow.sql"
    schema.write_text(SLOW_SCHEMA.format(seconds=120))
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(tmp_path / "no-ui"),
    }
    exe = Path(sys.executable).with_name("schemaflow")
    command = [str(exe), "migrate", "--env", "dev", "--skip-expectations", "--schema-file", str(schema)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_sleep(db_url, process, timeout=180)
    clock = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    print(f"\nmigrate exited {process.returncode} {time.monotonic() - clock:.2f} s after SIGTERM")

    assert process.returncode == 143, out + err
    errors = [line for line in err.splitlines() if line.startswith("schemaflow: error:")]
    assert len(errors) == 1 and "stopped by SIGTERM" in errors[0], err
    assert "nothing was changed" in errors[0]
    assert "already in progress" not in out + err and "Traceback" not in err
    assert _seconds_until_no_session(db_url, ORPHAN_BOUND_SECONDS) < ORPHAN_BOUND_SECONDS
    assert _lock_is_free(db_url)
    assert not _has_table(db_url, "public.half_done")
    with psycopg.connect(db_url, autocommit=True) as conn:
        runs = list_runs(conn)
    # One apply, one failed history row: Prefect did not retry it.
    assert [(r["outcome"], r["attempts"]) for r in runs] == [("failed", 1)], runs
    assert "stopped by SIGTERM" in runs[0]["error_message"]
    report = (tmp_path / "logs" / "migrate-dev.log").read_text()
    assert "apply ran and was rolled back: nothing was changed" in report
    assert "## Changes\n\nnot run" not in report


EXECUTE_DRIVER = """
import sys
from db.deploy.execute import execute_plan
from db.errors import ApplyInterrupted
from db.plan.model import Plan, Step
slow = Step(sql="SELECT pg_sleep(60)", kind="function", name="public.slow", action="create")
plan = Plan(steps=(slow,), schema_checksum="s", catalog_checksum="c")
try:
    execute_plan(sys.argv[1], plan, environment="test")
except ApplyInterrupted as exc:
    print(exc.message)
    sys.exit(exc.exit_code)
"""


def test_sigterm_during_a_planned_step_cancels_it_and_releases_the_lock(db_url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", EXECUTE_DRIVER, db_url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    _wait_for_sleep(db_url, process)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 143 and "stopped by SIGTERM" in out, out
    assert _seconds_until_no_session(db_url, ORPHAN_BOUND_SECONDS) < ORPHAN_BOUND_SECONDS
    assert _lock_is_free(db_url)
