"""The schema_drift flow under a real (temporary) Prefect server: its result, failure and artifact."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

SMALL_SCHEMA = Path(__file__).resolve().parents[1] / "db" / "drift_schema.sql"
ENVIRONMENTS = """
[defaults]
database_url_env = "SCHEMAFLOW_DRIFT_FLOW_URL"
allow_insecure = true
timescaledb = "preferred"

[environments.staging]
require_backup = false
"""


def _artifacts(key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


@pytest.mark.usefixtures("prefect_harness")
def test_schema_drift_flow_reports_then_fails_on_drift(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.schema_drift import schema_drift

    (tmp_path / "environments.toml").write_text(ENVIRONMENTS)
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(tmp_path / "environments.toml"))
    monkeypatch.setenv("SCHEMAFLOW_DRIFT_FLOW_URL", db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute(SMALL_SCHEMA.read_text())  # type: ignore[arg-type]

    clean = schema_drift(environment="staging", schema_file=str(SMALL_SCHEMA))
    assert clean["has_drift"] is False and clean["differences"] == []

    with psycopg.connect(db_url) as conn:
        conn.execute("ALTER TABLE episodes DISABLE ROW LEVEL SECURITY")
    state = schema_drift(
        environment="staging",
        database_url=SecretStr(db_url),
        schema_file=str(SMALL_SCHEMA),
        return_state=True,
    )
    assert state.is_failed()
    assert "staging has drifted from the master file: 1 differences" in state.message

    [artifact] = [a for a in _artifacts("drift-staging") if a.type == "table"]
    rows = artifact.data if isinstance(artifact.data, list) else __import__("json").loads(artifact.data)
    assert rows == [
        {
            "severity": "high",
            "status": "changed",
            "kind": "rls",
            "name": "public.episodes",
            "detail": "enabled: expected true, found false",
            "suggestion": "ALTER TABLE public.episodes ENABLE ROW LEVEL SECURITY;",
        }
    ]
    assert "hunter" not in str(rows)


@pytest.mark.usefixtures("prefect_harness")
def test_an_unexpected_error_fails_the_run_with_a_masked_message(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.schema_drift

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("lost postgresql://app:Unm4sked@db.example:5432/app")

    (tmp_path / "environments.toml").write_text(ENVIRONMENTS)
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(tmp_path / "environments.toml"))
    monkeypatch.setattr(flows.schema_drift, "detect_drift", broken)
    state = flows.schema_drift.schema_drift(
        environment="staging", database_url=SecretStr(db_url), return_state=True
    )
    assert state.is_failed()
    assert "unexpected RuntimeError: lost postgresql://app:***@db.example" in (state.message or "")
    assert "Unm4sked" not in (state.message or "")
