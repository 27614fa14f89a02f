"""The migrate slot against a real Prefect server: one holder at a time, and a dead holder freed.

A holder process killed with -9 cannot release its lease; Prefect would keep the slot until the
lease runs out (300 s). Each holder writes a record before it asks for the slot, so a rerun on the
same host sees the process gone and frees the slot at once; a live holder is never freed, and the
refusal names it (host, pid, start time).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.errors import CheckFailed
from tasks.concurrency import active_slots, free_slot, holders, migrate_slot

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from tasks.concurrency import migrate_slot
with migrate_slot(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder(prefect_harness: None) -> Iterator[subprocess.Popen[str]]:
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(PREFECT_HOME.value()),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "slot-test"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "held", f"the holder did not take the slot (exit {process.poll()})"
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_a_live_holder_keeps_the_slot_and_a_killed_one_is_freed_by_the_next_run(
    holder: subprocess.Popen[str],
) -> None:
    in_use = "another migrate run of 'slot-test'"
    with pytest.raises(CheckFailed, match=in_use) as refused, migrate_slot("slot-test", wait_seconds=1):
        pytest.fail("took the slot a live process holds")
    assert f"held by process {holder.pid} on host " in refused.value.message
    assert " since 20" in refused.value.message  # its start time, to match with the run's logs
    assert "schemaflow slot free --env slot-test" in (refused.value.hint or "")
    # Not even by hand: `slot free` refuses a live process on this host, naming it.
    with pytest.raises(CheckFailed, match=f"held by a live process: process {holder.pid} "):
        free_slot("slot-test")
    assert active_slots("slot-test") == 1

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    # Its lease has minutes to run: only freeing it lets a 1 s wait succeed, twice in a row.
    with migrate_slot("slot-test", wait_seconds=1):
        assert [r.pid for r in holders("slot-test")] == [os.getpid()]  # only this process's record
        # ... and it is held again, by this live process
        mine = f"held by process {os.getpid()} "
        with pytest.raises(CheckFailed, match=mine), migrate_slot("slot-test", wait_seconds=1):
            pytest.fail("the slot was taken twice")
    assert holders("slot-test") == []  # released with the block
    with migrate_slot("slot-test", wait_seconds=1):
        pass


RECORDLESS_HOLDER = """
import sys, time
from prefect.concurrency.sync import concurrency
from tasks.concurrency import ensure_limit, limit_name
ensure_limit(sys.argv[1])
with concurrency(limit_name(sys.argv[1]), occupy=1, lease_duration=300, strict=True):
    print("held", flush=True)
    sys.stdin.readline()  # until the test says when
    time.sleep(float(sys.argv[2]))
"""


def test_a_holder_that_ends_while_we_wait_lets_the_run_proceed_instead_of_a_refusal(
    prefect_harness: None,
) -> None:
    """A holder without a record here (it ended and removed it, or runs elsewhere) is asked for twice:
    a slot freed after the first wait is taken. Before, the run was refused, naming no holder."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           "PREFECT_HOME": str(PREFECT_HOME.value())}  # fmt: skip
    wait = 3.0
    argv = [sys.executable, "-c", RECORDLESS_HOLDER, "slot-gone", str(wait * 1.5)]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
    process = subprocess.Popen(argv, cwd=ROOT, env=env, text=True, **pipes)  # type: ignore[call-overload]
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline().strip() == "held"
    try:
        process.stdin.write("go\n")
        process.stdin.flush()  # it releases 4.5 s from now: after our first 3 s wait, within the second
        with migrate_slot("slot-gone", wait_seconds=wait):
            assert process.wait(timeout=30) == 0  # released before we got it
    finally:
        if process.poll() is None:
            process.kill()
