"""A CLI migrate killed with -9 while no Prefect server runs never locks its environment out.

Without a server each CLI command starts Prefect's temporary server on PREFECT_HOME's SQLite database;
the killed run's lease died with its server and nothing would ever lower the limit's active_slots.
The next migrate, with the same PREFECT_HOME, finds the dead holder's record and runs at once; while
the holder lived, it was refused, naming it.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import psycopg
import pytest

from db.errors import CheckFailed
from tasks.slot_records import HolderRecord, read_records
from tests.support.environments import write_test_environments

ROOT = Path(__file__).resolve().parents[2]
# dev waits long on a connection, so the killed run is caught holding the slot (it connects after).
DEV = """
[environments.dev]
require_backup = false
connect_timeout = 600
"""


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers: a migrate waits there."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"postgresql://app@127.0.0.1:{listener.getsockname()[1]}/nowhere"


@pytest.fixture
def no_server_env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    write_test_environments(tmp_path, db_url, monkeypatch, DEV)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def _wait_for_holder(home: Path, process: subprocess.Popen[str], timeout: float = 180) -> HolderRecord:
    """process's record once it says "held" (written under PREFECT_HOME by tasks/slot_records.py)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        for folder in (home / "schemaflow-leases").glob("migrate-dev-*"):
            held = [r for r in read_records(folder).values() if r.pid == process.pid and r.state == "held"]
            if held:
                return held[0]
        time.sleep(0.1)
    pytest.fail(f"the first migrate never held the slot (exit {process.poll()})")


def _migrate(cli: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, "--skip-expectations"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_killed_cli_migrate_without_a_server_does_not_keep_the_slot(
    no_server_env: dict[str, str], silent_server: str, tmp_path: Path
) -> None:
    cli = [sys.executable, "-m", "cli", "migrate", "--env", "dev"]
    first = subprocess.Popen(
        [*cli, "--database-url", silent_server],
        cwd=ROOT,
        env=no_server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its temporary server too, to clean up after
    )
    try:
        record = _wait_for_holder(tmp_path / "prefect-home", first)
        assert record.flow_run_id and record.lease_id
        # While it lives, it is never freed: a second migrate is refused, naming it.
        refused = _migrate(cli, no_server_env)
        assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
        named = f"(it holds the 'migrate-dev' concurrency limit; held by process {first.pid} on host "
        assert named in refused.stdout + refused.stderr, refused.stdout[-2000:] + refused.stderr[-2000:]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed = time.monotonic()
        second = _migrate(cli, no_server_env)
        seconds = time.monotonic() - killed
    finally:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(first.pid, signal.SIGKILL)
    print(
        f"\nslot: the migrate after the holder's kill -9 (no server, same PREFECT_HOME) took {seconds:.1f} s"
    )
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "another migrate run" not in second.stderr
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as prefect_db:
        runs = dict(prefect_db.execute("SELECT id, state_type FROM flow_run").fetchall())
    assert runs.get(record.flow_run_id) == "CRASHED", runs  # the killed run, marked by the next one


@pytest.mark.usefixtures("prefect_harness")
def test_slot_free_never_guesses_and_records_the_free_it_was_told(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from prefect.client.orchestration import get_client

    from cli.main import main
    from db.deploy.history import list_runs
    from tasks.concurrency import active_slots, ensure_limit, limit_name, migrate_slot
    from tasks.slot_records import records_dir, write_record

    write_test_environments(tmp_path, db_url, monkeypatch, DEV)
    ensure_limit("dev")
    with get_client(sync_client=True) as client:  # a run on another host takes the slot
        client.increment_concurrency_slots_with_lease(["migrate-dev"], 1, "concurrency", lease_duration=300)
    elsewhere = HolderRecord("elsewhere", 4242, "boot:4242:1", "2026-12-07 01:04:00 UTC", state="held")
    write_record(records_dir(limit_name("dev")), elsewhere)

    named = "another host's process 4242 on host 'elsewhere' since 2026"
    with pytest.raises(CheckFailed, match=named), migrate_slot("dev", wait_seconds=1):
        pytest.fail("took the slot of a holder on another host")
    assert active_slots("dev") == 1  # never freed by guesswork

    assert main(["slot", "show", "--env", "dev"]) == 0
    assert "process 4242 on host 'elsewhere'" in capsys.readouterr().out
    assert main(["slot", "free", "--env", "dev"]) == 1  # no terminal to confirm on: nothing freed
    assert "needs confirmation; nothing was freed" in capsys.readouterr().err
    assert active_slots("dev") == 1

    assert main(["slot", "free", "--env", "dev", "--yes"]) == 0
    assert "freed 1 slot(s) of migrate-dev" in capsys.readouterr().out
    assert active_slots("dev") == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        freed = list_runs(conn, "dev", limit=1)[0]
    assert freed["approval_source"] == "schemaflow slot free" and freed["outcome"] == "failed"
    assert "process 4242 on host 'elsewhere'" in freed["error_message"]
    with migrate_slot("dev", wait_seconds=1):
        pass
