"""The scheduled deployments' first hour: an environment not set up yet gives Skipped runs, not Failed ones.

Before, each of these runs ended Failed (no Secret block, or nothing built to check), turning a fresh
`make ui` dashboard red every 15 minutes.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from tests.support.environments import write_test_environments

BLOCK = f"schemaflow-test-quiet-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def staging(prefect_harness: None, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A staging environment whose Secret block does not exist yet; returns the test database's URL."""
    write_test_environments(
        tmp_path, db_url, monkeypatch, f'[environments.staging]\nsecret_block = "{BLOCK}"\n'
    )
    return db_url


def _store_block(url: str) -> None:
    from prefect.blocks.system import Secret

    Secret(value=url).save(BLOCK, overwrite=True)


def test_without_a_secret_block_every_scheduled_job_is_skipped_naming_the_command(staging: str) -> None:
    from flows.deployments import (
        drift_staging,
        enforce_retention_staging,
        health_staging,
        migrate_staging,
        refresh_metrics_staging,
    )

    for flow in (
        migrate_staging,
        refresh_metrics_staging,
        health_staging,
        drift_staging,
        enforce_retention_staging,
    ):
        state = flow(return_state=True)
        assert state.is_completed() and state.name == "Skipped", (flow.name, state.type, state.message)
        assert BLOCK in state.message and "schemaflow secrets set staging" in state.message


def test_a_database_not_built_skips_the_jobs_that_read_the_schema(staging: str) -> None:
    from flows.deployments import drift_staging, enforce_retention_staging, refresh_metrics_staging

    _store_block(staging)
    for flow in (refresh_metrics_staging, drift_staging, enforce_retention_staging):
        state = flow(return_state=True)
        assert state.is_completed() and state.name == "Skipped", (flow.name, state.type, state.message)
        assert "not built yet" in state.message and "schemaflow migrate --env staging" in state.message
        assert staging.split("@")[0].rsplit(":", 1)[1] not in state.message  # the password stays out


def test_a_half_built_database_still_fails_loudly(staging: str) -> None:
    """Skipping is only for 'nothing here yet': one master-file table present means refresh really runs."""
    from flows.deployments import refresh_metrics_staging

    _store_block(staging)
    with psycopg.connect(staging, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.plans (id int)")
    state = refresh_metrics_staging(return_state=True)
    assert state.is_failed(), (state.type, state.message)
