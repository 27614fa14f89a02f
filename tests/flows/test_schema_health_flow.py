"""The schema_health flow under a temporary Prefect server: artifacts per run, failure when unhealthy."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from db.local.cluster import LocalCluster
from tasks.health import health_artifact_key
from tests.conftest import drop_database
from tests.support.seeded import clone_template

ENVIRONMENTS = """
[defaults]
database_url_env = "SCHEMAFLOW_HEALTH_TEST_URL"
allow_insecure = true
timescaledb = "preferred"
connect_timeout = 5
backup_dir = "{root}/backups/{{name}}"
report_log = "{root}/logs/{{name}}.log"

[environments.qa]
require_backup = false
"""


@pytest.fixture
def seeded_env(tmp_path: Path, pg_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Environment 'qa' pointing at a migrated, seeded clone; Data Docs in the test's temp dir."""
    url = clone_template(pg_cluster)
    path = tmp_path / "environments.toml"
    path.write_text(ENVIRONMENTS.format(root=tmp_path))
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    monkeypatch.setenv("SCHEMAFLOW_HEALTH_TEST_URL", url)
    monkeypatch.setenv("SCHEMAFLOW_GX_DOCS_DIR", str(tmp_path / "gx-docs"))
    yield url
    drop_database(pg_cluster, url)


def _artifacts(key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


@pytest.mark.usefixtures("prefect_harness")
def test_healthy_run_publishes_a_row_per_expectation_and_links_data_docs(
    seeded_env: str, tmp_path: Path
) -> None:
    from flows.schema_health import schema_health

    result = schema_health(environment="qa")
    suites = result["suites"]
    assert suites["success"] and all(c["status"] in ("pass", "skip") for c in result["checks"])
    (table,) = _artifacts(health_artifact_key("qa", "expectations"))
    assert table.type == "table"
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert len(rows) == len(suites["rows"]) > 30
    assert set(rows[0]) == {"suite", "expectation", "success", "observed_value", "unexpected_count"}
    (report,) = _artifacts(health_artifact_key("qa", "report"))
    assert "HEALTHY" in report.data
    assert str(tmp_path / "gx-docs" / "qa" / "index.html") in report.data
    assert (tmp_path / "gx-docs" / "qa" / "index.html").exists()
    assert _artifacts(health_artifact_key("qa", "checks"))


@pytest.mark.usefixtures("prefect_harness")
def test_unhealthy_run_fails_with_the_fix(seeded_env: str) -> None:
    from flows.schema_health import schema_health

    with psycopg.connect(seeded_env, autocommit=True) as conn:
        conn.execute("DROP INDEX public.idx_campaigns_dates")
    state = schema_health(environment="qa", run_expectations=False, return_state=True)
    assert state.is_failed()
    assert "qa is not healthy: indexes (" in (state.message or "")
    assert "idx_campaigns_dates" in (state.message or "")  # the state names the index, not only the check
    reports = [
        a for a in _artifacts(health_artifact_key("qa", "report")) if "PROBLEMS FOUND" in (a.data or "")
    ]
    assert reports and "idx_campaigns_dates" in reports[0].data


@pytest.mark.usefixtures("prefect_harness")
def test_an_unexpected_error_fails_the_run_with_a_masked_message(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.schema_health

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("lost postgresql://app:Unm4sked@db.example:5432/app")

    (tmp_path / "environments.toml").write_text(ENVIRONMENTS.format(root=tmp_path))
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(tmp_path / "environments.toml"))
    monkeypatch.setenv("SCHEMAFLOW_HEALTH_TEST_URL", db_url)
    monkeypatch.setattr(flows.schema_health, "check_health", broken)
    state = flows.schema_health.schema_health(environment="qa", return_state=True)
    assert state.is_failed()
    assert "unexpected RuntimeError: lost postgresql://app:***@db.example" in (state.message or "")
    assert "Unm4sked" not in (state.message or "")
