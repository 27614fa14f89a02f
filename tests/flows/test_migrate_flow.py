"""The migrate flow under a real (temporary) Prefect server against real databases."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from db.deploy.history import list_runs
from db.errors import ApplyFailed, CheckFailed, ConfigError, ConnectionFailed, MigrationLocked
from tests.support.environments import use_test_environments


@pytest.fixture
def environments(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private environments file whose environments all point at this test's fresh database."""
    use_test_environments(tmp_path, db_url, monkeypatch)
    return tmp_path


def _artifacts(key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


@pytest.mark.usefixtures("prefect_harness")
def test_migrate_twice_creates_everything_then_nothing(environments: Path, db_url: str) -> None:
    from flows.migrate import migrate

    first = migrate(environment="dev", run_expectations=False)
    assert first["outcome"] == "success" and first["objects_changed"] > 20
    assert first["backup"] is None
    second = migrate(environment="dev", run_expectations=False)
    assert second["objects_changed"] == 0 and second["changes"] == {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        runs = list_runs(conn, "dev")
    assert [r["id"] for r in runs] == [second["history_id"], first["history_id"]]

    log = (environments / "logs" / "migrate-dev.log").read_text()
    assert "outcome: **SUCCESS**" in log and "made 0 change(s)" in log and "key table listener_events" in log
    assert "PASS" in log and "password" not in log.lower()
    for what in ("report", "preflight", "changes", "verify"):
        assert _artifacts(f"migrate-dev-{what}"), what
    # The key keeps every run's version (other tests in the session add theirs); the newest is ours.
    newest = max(_artifacts("migrate-dev-report"), key=lambda artifact: artifact.created)
    assert "made 0 change(s)" in newest.data
    # The artifact history in the UI shows each entry's description: the outcome comes first.
    assert newest.description == "SUCCESS: migrate of dev, 0 object(s) changed", newest.description


@pytest.mark.usefixtures("prefect_harness")
def test_a_failing_run_ends_failed_with_the_actionable_message(environments: Path, db_url: str) -> None:
    from flows.migrate import migrate

    broken = environments / "broken.sql"
    broken.write_text(
        "CREATE TABLE IF NOT EXISTS public.a (id int);\n"
        "CREATE TABLE IF NOT EXISTS public.b (id no_such_type);\n"
    )
    state = migrate(environment="dev", schema_file=str(broken), return_state=True)
    assert state.is_failed()
    assert "at line 2" in (state.message or "") and "no_such_type" in (state.message or "")
    log = (environments / "logs" / "migrate-dev.log").read_text()
    assert "outcome: **FAILED**" in log and "## Changes\n\n- apply ran and was rolled back" in log
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.a')").fetchone() == (None,)
    failures = _artifacts("migrate-dev-failure")
    assert failures, "the on_failure hook records the failure"
    newest = str(max(failures, key=lambda artifact: artifact.created).data)
    assert "failed at: **apply**" in newest and "the apply rolled back" in newest, newest
    assert "```" not in newest  # the message is quoted so that it wraps
    report = max(_artifacts("migrate-dev-report"), key=lambda artifact: artifact.created)
    assert report.description.startswith("FAILED: migrate of dev") and "no_such_type" in report.description


@pytest.mark.usefixtures("prefect_harness")
def test_a_dry_run_is_named_and_keyed_apart_from_a_deploy(environments: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.migrate import migrate

    state = migrate(environment="dev", dry_run=True, run_expectations=False, return_state=True)
    assert state.is_completed(), state.message
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    # environment, kind, the target's host and port (the test cluster on 127.0.0.1), short run id
    assert run.name.startswith("migrate-dev-dry-run-127.0.0.1-"), run.name
    assert run.name.endswith(str(run_id).replace("-", "")[:6]), run.name
    keys = {a.key for a in artifacts}
    assert "migrate-dev-dry-run-report" in keys and "migrate-dev-report" not in keys, keys


@pytest.mark.usefixtures("prefect_harness")
def test_an_unexpected_error_is_reported_masked(environments: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.migrate

    def broken_preflight(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("lost postgresql://app:Unm4sked@db.example:5432/app")

    monkeypatch.setattr(flows.migrate, "preflight", broken_preflight)
    state = flows.migrate.migrate(environment="dev", return_state=True)
    assert state.is_failed()
    assert "unexpected RuntimeError: lost postgresql://app:***@db.example" in (state.message or "")
    assert "Unm4sked" not in (state.message or "")
    log = (environments / "logs" / "migrate-dev.log").read_text()
    assert "outcome: **FAILED**: unexpected RuntimeError" in log and "Unm4sked" not in log


def test_only_transient_failures_are_retried_by_prefect() -> None:
    from tasks.apply import is_transient

    assert is_transient(ConnectionFailed("cannot reach a PostgreSQL server at db:5432: refused"))
    assert is_transient(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert not is_transient(ConnectionFailed("authentication failed for user 'app' at db:5432/app"))
    assert not is_transient(ApplyFailed("the schema file failed at line 3"))
    assert not is_transient(MigrationLocked("another migration is running on this database: pid 7"))


@pytest.mark.usefixtures("prefect_harness")
def test_verify_task_failure_advises_the_checks_fix_not_a_restore(environments: Path, db_url: str) -> None:
    from tasks.verify import verify

    with pytest.raises(CheckFailed) as caught:
        verify.fn(
            db_url, "dev", run_expectations=False, restore_command="schemaflow restore --env dev --backup X"
        )
    assert "key tables present" in caught.value.message
    # The schema applied and no data was lost: replacing the whole database is not the advice.
    assert caught.value.hint and "schemaflow restore" not in caught.value.hint
    assert "restore" not in caught.value.hint.lower()
    statuses = {r.name: r.status for r in caught.value.rows}
    assert statuses["key tables present"] == "fail"


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_given_a_revision_deploys_only_that_commit_s_files(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from db.schema.master_file import MASTER_SCHEMA
    from flows.migrate import migrate
    from tests.db.test_deploy_revision import commit_all, git
    from tests.support.environments import write_test_environments

    repo = tmp_path / "worker"
    folder = repo / "db" / "migrations"
    folder.mkdir(parents=True)
    master = folder / MASTER_SCHEMA.name
    master.write_text(MASTER_SCHEMA.read_text())
    git(repo, "init", "-q")
    merged = commit_all(repo, "the merged commit")
    write_test_environments(
        tmp_path,
        db_url,
        monkeypatch,
        f'[environments.stale]\nrequire_backup = false\nmigrations_dir = "{folder}"\n',
    )

    master.write_text(master.read_text() + "\nCREATE TABLE IF NOT EXISTS public.not_merged (a int);\n")
    state = migrate(environment="stale", schema_file=str(master), revision=merged, return_state=True)
    assert state.is_failed()
    with pytest.raises(ConfigError, match=rf"not at {merged[:12]}: 1 file\(s\) differ"):
        state.result()
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.listener_events')").fetchone() == (None,)
        assert list_runs(conn, "stale") == []
    log = (tmp_path / "logs" / "migrate-stale.log").read_text()
    assert "outcome: **FAILED**" in log and "nothing was changed" in log

    master.write_text(MASTER_SCHEMA.read_text())  # the worker's checkout is the merged commit's again
    done = migrate(environment="stale", schema_file=str(master), revision=merged, run_expectations=False)
    assert done["outcome"] == "success" and done["revision"] == merged and done["objects_changed"] > 20
    log = (tmp_path / "logs" / "migrate-stale.log").read_text()
    assert f"- revision: {merged}" in log


@pytest.mark.usefixtures("prefect_harness")
def test_after_a_run_killed_mid_apply_the_next_report_says_what_it_repaired(
    environments: Path, db_url: str
) -> None:
    from flows.migrate import migrate
    from tasks.reporting import RUNNING_OUTCOME

    migrate(environment="dev", run_expectations=False)
    # What kill -9 in the middle of an apply leaves: a report that reads RUNNING, no history row, and
    # the database half way (here: an index the killed run had dropped and not yet rebuilt).
    log = environments / "logs" / "migrate-dev.log"
    log.write_text(
        "# schemaflow migrate\n\n- flow run: killed-run\n"
        f"- started: 2026-12-07 10:00:00 UTC\n{RUNNING_OUTCOME}\n"
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP INDEX public.idx_podcasts_tenant_id")
        rows_before = len(list_runs(conn, "dev"))
    done = migrate(environment="dev", run_expectations=False)
    assert done["outcome"] == "success" and done["objects_changed"] == 1
    text = log.read_text()
    assert "- settled: the previous run's report (killed-run, started 2026-12-07 10:00:00 UTC)" in text, text
    assert "a killed process writes no history row" in text
    assert "- repaired: the run a dead process left RUNNING" in text and "idx_podcasts_tenant_id" in text, (
        text
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert len(list_runs(conn, "dev")) == rows_before + 1
