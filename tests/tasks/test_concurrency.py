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
