"""The failure hook: loud log, masked failure artifact on the run, event for automations."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from tasks.drift import drift_artifact_key
from tasks.health import health_artifact_key
from tasks.notify import failure_artifact_key, failure_message, notify_failure
from tasks.reporting import artifact_key

SECRET = "s3cr3t-pw"


@flow(name="notify-probe", on_failure=[notify_failure])
def failing_flow(environment: str) -> None:
    raise RuntimeError(
        f"preflight failed for postgresql://app:{SECRET}@db.example:5432/prod; pass confirm=true"
    )


def test_artifact_key_is_valid_for_the_ui() -> None:
    assert failure_artifact_key("schema_health", "Prod EU") == "schema-health-prod-eu-failure"


def test_every_flow_keys_its_artifacts_with_the_same_rule() -> None:
    # The UI keeps an artifact's history by key: these must not change between releases.
    assert artifact_key("Production", "report") == "migrate-production-report"
    assert health_artifact_key("Prod EU", "checks") == "schema-health-prod-eu-checks"
    assert drift_artifact_key("staging") == "drift-staging"
    assert failure_artifact_key("migrate", "production") == "migrate-production-failure"
    assert artifact_key("", "report") == "migrate-env-report"


def test_message_is_masked_and_never_empty() -> None:
    class State:
        message = f"cannot connect to postgresql://u:{SECRET}@h/db"

    assert SECRET not in failure_message(State())
    assert failure_message(object()).startswith("the run failed without a message")


@pytest.mark.usefixtures("prefect_harness")
def test_failed_run_gets_a_masked_failure_artifact(capfd: pytest.CaptureFixture[str]) -> None:
    state = failing_flow("production", return_state=True)
    assert state.is_failed()
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    by_key = {a.key: a for a in artifacts}
    assert "notify-probe-production-failure" in by_key, sorted(k or "" for k in by_key)
    text = str(by_key["notify-probe-production-failure"].data)
    assert "FAILED: notify-probe on production" in text
    assert "pass confirm=true" in text
    assert SECRET not in text
    # Only the hook's own lines: Prefect's engine logs the raw exception too (with -s, on stderr).
    loud = [line for line in capfd.readouterr().err.splitlines() if "FAILED on PRODUCTION" in line]
    assert loud
    assert not [line for line in loud if SECRET in line]
