"""End to end: a worker-run migrate killed with -9 while paused for approval does not keep the slot.

The paused run's own process holds `migrate-production` through the pause. Killed, it can release
nothing; its lease would hold the slot for minutes. The next trigger, run by the same worker on the
same host, finds the dead holder's record, frees the slot by its lease and runs; the dead run ends
CRASHED, not paused forever.
"""

from __future__ import annotations

import os
import signal
import time
from uuid import UUID

import psycopg
import pytest

from tasks.slot_records import HolderRecord, read_records
from tests.e2e.conftest import PrefectStack
from tests.e2e.test_approval import FAST
from tests.e2e.test_deployments import user_tables

# A plan with a step, so the run pauses for approval whether or not earlier tests built production.
DROPPED_INDEX = "idx_podcasts_tenant_id"
INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {DROPPED_INDEX} ON public.podcasts (tenant_id)"

pytestmark = pytest.mark.slow


def holder_of(stack: PrefectStack, flow_run_id: UUID, timeout: float = 60) -> HolderRecord:
    """The slot record the run's process wrote under the stack's PREFECT_HOME."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in (stack.home / "schemaflow-leases").glob("migrate-production-*"):
            for record in read_records(folder).values():
                if record.flow_run_id == str(flow_run_id) and record.state == "held":
                    return record
        time.sleep(0.5)
    pytest.fail(f"no slot record of run {flow_run_id} under {stack.home}\n{stack.log_tail()}")


def test_a_paused_run_killed_with_9_frees_the_slot_for_the_next_trigger(prefect_stack: PrefectStack) -> None:
    built = bool(user_tables(prefect_stack.production_db_url))
    if built:
        with psycopg.connect(prefect_stack.production_db_url, autocommit=True) as conn:
            conn.execute(f"DROP INDEX IF EXISTS public.{DROPPED_INDEX}")  # type: ignore[arg-type]
    try:
        kill_the_paused_holder_then_trigger(prefect_stack)
    finally:
        if built:
            with psycopg.connect(prefect_stack.production_db_url, autocommit=True) as conn:
                conn.execute(INDEX_SQL)  # type: ignore[arg-type]  # as the master file builds it


def kill_the_paused_holder_then_trigger(prefect_stack: PrefectStack) -> None:
    first = prefect_stack.run_deployment("migrate/production", FAST)
    prefect_stack.wait_for_state(first, {"PAUSED"}, timeout=180)
    holder = holder_of(prefect_stack, first)
    assert holder.lease_id and holder.on_this_host
    os.kill(holder.pid, signal.SIGKILL)
    killed = time.monotonic()

    second = prefect_stack.run_deployment("migrate/production", FAST)
    try:
        reached = prefect_stack.wait_for_state(second, {"PAUSED", "COMPLETED", "FAILED", "CRASHED"}, 180)
        print(f"\ne2e: the trigger after the paused holder's kill -9 ran in {time.monotonic() - killed:.1f}s")
        assert "another migrate run" not in (reached.state.message or ""), reached.state.message
        assert reached.state.type.value in {"PAUSED", "COMPLETED"}, reached.state
        dead = prefect_stack.wait_for_state(first, {"CRASHED"}, timeout=60)
        assert dead.state.type.value == "CRASHED"
    finally:
        with prefect_stack.client() as client:
            paused = client.read_flow_run(second).state
        if paused is not None and paused.type.value == "PAUSED":
            prefect_stack.resume(second, {"decision": "reject", "reason": "e2e teardown"})
            prefect_stack.wait_for_final_state(second)
