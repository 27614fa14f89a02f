"""The refresh_metrics flow under a temporary Prefect server, and its deployments in prefect.yaml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from db.local.cluster import LocalCluster
from tasks.metrics import refresh_artifact_key
from tests.conftest import drop_database
from tests.support.seeded import clone_template

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = """
[defaults]
database_url_env = "SCHEMAFLOW_REFRESH_TEST_URL"
allow_insecure = true
timescaledb = "preferred"
connect_timeout = 5
backup_dir = "{root}/backups/{{name}}"
report_log = "{root}/logs/{{name}}.log"

[environments.qa]
require_backup = false
"""
LATE_EVENT_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id, event_type,
                                    position_seconds, duration_seconds)
SELECT %(at)s, tenant_id, podcast_id, id, 'late-listener', 'play', 0, 30
FROM public.episodes ORDER BY id LIMIT 1
"""


@pytest.fixture
def seeded_env(tmp_path: Path, pg_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Environment 'qa' pointing at a migrated, seeded clone."""
    url = clone_template(pg_cluster)
    path = tmp_path / "environments.toml"
    path.write_text(ENVIRONMENTS.format(root=tmp_path))
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    monkeypatch.setenv("SCHEMAFLOW_REFRESH_TEST_URL", url)
    yield url
    drop_database(pg_cluster, url)


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_upserts_the_late_bucket_and_publishes_its_table(seeded_env: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.refresh_metrics import refresh_metrics

    with psycopg.connect(seeded_env) as conn:
        conn.execute(LATE_EVENT_SQL, {"at": datetime.now(UTC) - timedelta(hours=5)})
    result = refresh_metrics(environment="qa", window="2d")
    assert result["kind"] == "table" and result["window"] == "2 days"
    assert result["buckets_upserted"] >= 1 and result["buckets_deleted"] == 0
    with get_client(sync_client=True) as client:
        key = refresh_artifact_key("qa")
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert len(artifacts) == 1 and "buckets_upserted" in str(artifacts[0].data)


@pytest.mark.usefixtures("prefect_harness")
def test_a_bad_window_fails_the_run_with_a_fix(seeded_env: str) -> None:
    from db.errors import ConfigError
    from flows.refresh_metrics import refresh_metrics

    with pytest.raises(ConfigError, match="not a positive interval"):
        refresh_metrics(environment="qa", window="-3 days")


def test_each_environment_has_a_refresh_deployment_with_its_environment_fixed_in_code() -> None:
    from prefect.utilities.callables import parameter_schema

    import flows.deployments as entry

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    refresh = {d["name"]: d for d in config["deployments"] if "refresh_metrics" in d["entrypoint"]}
    assert set(refresh) == {"staging", "production", "local"}
    for deployment in refresh.values():
        function = getattr(entry, deployment["entrypoint"].split(":")[1])
        assert set(parameter_schema(function.fn).properties) == {"window"}  # no environment, no URL
        assert deployment["enforce_parameter_schema"] is True
    for name in ("staging", "production"):
        assert [s["cron"] for s in refresh[name]["schedules"]] == ["*/15 * * * *"]
    assert refresh["local"]["schedules"] == []
