"""`make ui` on a fresh checkout: staging's scheduled deployments, with no Secret block stored, each
triggered once through the real worker, end Skipped with the command that switches them on.

Before, each ended Failed (every 15 minutes for refresh-metrics), turning the dashboard red.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import PrefectStack

pytestmark = pytest.mark.slow

SCHEDULED_STAGING = (
    "migrate/staging",
    "schema-health/staging",
    "schema-drift/staging",
    "refresh-metrics/staging",
    "enforce-retention/staging",
)


def test_scheduled_deployments_without_a_secret_block_end_skipped_not_failed(
    prefect_stack: PrefectStack,
) -> None:
    with prefect_stack.client() as client:
        for name in SCHEDULED_STAGING:
            assert client.read_deployment_by_name(name).schedules, f"{name} is not a scheduled deployment"
    started = time.monotonic()
    runs = {name: prefect_stack.run_deployment(name) for name in SCHEDULED_STAGING}
    finals = {name: prefect_stack.wait_for_final_state(run_id, timeout=240) for name, run_id in runs.items()}
    print(f"\ne2e: {len(finals)} scheduled staging deployments ended in {time.monotonic() - started:.1f}s")
    for name, run in finals.items():
        state = run.state
        assert state.type.value not in ("FAILED", "CRASHED"), f"{name}: {state.type.value} {state.message}"
        assert state.type.value == "COMPLETED" and state.name == "Skipped", (name, state.name, state.message)
        assert "schemaflow secrets set staging" in (state.message or ""), (name, state.message)
