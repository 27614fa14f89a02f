"""End to end: prefect.yaml deployed to a real Prefect server, runs picked up by a real worker.

- migrate/local completes, the schema is in the database and the run's artifacts are in the API;
- migrate/production without confirm=true fails at preflight and leaves its database empty;
- migrate/staging's cron schedule makes the scheduler create runs (SQLAlchemy 2.1 silently broke that);
- headless Chromium renders the completed run's page and its artifacts.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from tests.e2e.browser import capture, chromium_path
from tests.e2e.conftest import PrefectStack

pytestmark = pytest.mark.slow

# Tables in the database that were not created by an extension: empty means "untouched".
USER_TABLES = """
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE '\\_timescaledb%'
  AND n.nspname NOT LIKE 'timescaledb\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""


def user_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(USER_TABLES)]


def artifacts_of(stack: PrefectStack, flow_run_id: Any) -> list[Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with stack.client() as client:
        return list(
            client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
        )


@pytest.fixture(scope="module")
def local_run(prefect_stack: PrefectStack) -> Any:
    """migrate/local triggered through the API and waited for (shared by the API and browser checks)."""
    started = time.monotonic()
    run = prefect_stack.wait_for_final_state(prefect_stack.run_deployment("migrate/local"))
    print(f"\ne2e: migrate/local {run.state.type.value} in {time.monotonic() - started:.1f}s ({run.name})")
    return run


def test_local_run_completes_and_applies_the_schema(prefect_stack: PrefectStack, local_run: Any) -> None:
    assert local_run.state.is_completed(), f"{local_run.state.message}\n{prefect_stack.log_tail()}"
    assert local_run.name == "migrate-local"
    tables = user_tables(prefect_stack.local_db_url)
    assert "public.tenants" in tables
    assert "public.listener_events" in tables


def test_local_run_artifacts_are_readable_through_the_api(prefect_stack: PrefectStack, local_run: Any) -> None:
    artifacts = artifacts_of(prefect_stack, local_run.id)
    keys = {a.key for a in artifacts}
    assert "migrate-local-report" in keys, sorted(k or "(no key)" for k in keys)
    report = next(a for a in artifacts if a.key == "migrate-local-report")
    assert "SUCCESS" in str(report.data)
    assert "tenants" in str(report.data)


def test_production_without_confirmation_fails_at_preflight(prefect_stack: PrefectStack) -> None:
    started = time.monotonic()
    run = prefect_stack.wait_for_final_state(prefect_stack.run_deployment("migrate/production"))
    print(f"\ne2e: migrate/production {run.state.type.value} in {time.monotonic() - started:.1f}s")
    assert run.state.is_failed(), f"{run.state.type}: {run.state.message}\n{prefect_stack.log_tail()}"
    assert run.parameters.get("confirm") is False
    assert "confirm" in (run.state.message or "").lower(), run.state.message
    assert user_tables(prefect_stack.production_db_url) == []
    keys = {a.key for a in artifacts_of(prefect_stack, run.id)}
    assert "migrate-production-report" in keys, sorted(k or "(no key)" for k in keys)


def test_production_deployment_has_no_schedule_and_rejects_unknown_parameters(
    prefect_stack: PrefectStack,
) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    with prefect_stack.client() as client:
        deployment = client.read_deployment_by_name("migrate/production")
        assert deployment.schedules == []
        assert "production" in deployment.tags
        assert deployment.parameters.get("confirm") is False
        assert deployment.enforce_parameter_schema is True
        with pytest.raises(PrefectHTTPStatusError):
            client.create_flow_run_from_deployment(deployment.id, parameters={"confirm": "definitely"})


def test_staging_schedule_produces_scheduled_runs(prefect_stack: PrefectStack) -> None:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    started = time.monotonic()
    with prefect_stack.client() as client:
        deployment = client.read_deployment_by_name("migrate/staging")
        assert [s.schedule.cron for s in deployment.schedules] == ["30 2 * * *"]  # type: ignore[union-attr]
        scheduled: list[Any] = []
        # The scheduler service looks at recently changed deployments every few seconds.
        while time.monotonic() - started < 90:
            scheduled = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
                ),
            )
            if scheduled:
                break
            time.sleep(2)
    print(f"\ne2e: {len(scheduled)} scheduled migrate/staging runs after {time.monotonic() - started:.1f}s")
    assert scheduled, f"no scheduled runs of migrate/staging after 90 s\n{prefect_stack.log_tail()}"
    times = sorted(r.expected_start_time for r in scheduled)
    assert all((t.hour, t.minute) == (2, 30) for t in times), times
    assert all(r.parameters.get("environment") == "staging" for r in scheduled)


def test_browser_shows_the_completed_run_and_its_artifacts(prefect_stack: PrefectStack, local_run: Any) -> None:
    if chromium_path() is None:
        pytest.fail("chromium is not installed; run: bash scripts/setup-browser.sh")
    run_page = capture(f"{prefect_stack.ui_url}/runs/flow-run/{local_run.id}", "e2e-flow-run")
    print(f"\ne2e: screenshot {run_page.screenshot}")
    assert "migrate-local" in run_page.dom
    artifacts_page = capture(f"{prefect_stack.ui_url}/runs/flow-run/{local_run.id}?tab=Artifacts", "e2e-artifacts")
    print(f"e2e: screenshot {artifacts_page.screenshot}")
    assert "migrate-local-report" in artifacts_page.dom
