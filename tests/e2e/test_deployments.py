"""End to end: prefect.yaml deployed to a real Prefect server, runs picked up by a real worker.

- migrate/local completes, the schema is in the database and the run's artifacts are in the API;
- no deployment's run form offers `environment`; staging and production offer no `schema_file`, and
  `prefect deployment run 'migrate/staging' -p environment=production` is refused;
- the concurrency limits and the failure automation exist after `make ui`'s setup;
- migrate/staging's cron schedule makes the scheduler create runs (SQLAlchemy 2.1 silently broke that);
- headless Chromium renders the completed run's page and its artifacts;
- nothing the stack, the run and a backup wrote under its state folder is open to other users.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.browser import capture, chromium_path
from tests.e2e.conftest import ROOT, PrefectStack

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
    # environment, kind, masked target host (the test cluster's loopback address and port), short id
    assert re.fullmatch(r"migrate-local-apply-127\.0\.0\.1-\d+-[0-9a-f]{6}", local_run.name), local_run.name
    assert str(local_run.id).replace("-", "")[:6] == local_run.name[-6:]
    assert {"local", "migrate"} <= set(local_run.tags)
    tables = user_tables(prefect_stack.local_db_url)
    assert "public.tenants" in tables
    assert "public.listener_events" in tables


def test_local_run_artifacts_are_readable_through_the_api(
    prefect_stack: PrefectStack, local_run: Any
) -> None:
    artifacts = artifacts_of(prefect_stack, local_run.id)
    keys = {a.key for a in artifacts}
    expected = {f"migrate-local-{what}" for what in ("preflight", "changes", "verify", "report")}
    assert expected <= keys, sorted(k or "(no key)" for k in keys)
    report = next(a for a in artifacts if a.key == "migrate-local-report")
    assert "outcome: **SUCCESS**" in str(report.data)
    assert "tenants" in str(report.data)


def test_the_daily_retention_deployment_exists_and_a_local_run_completes(
    prefect_stack: PrefectStack, local_run: Any
) -> None:
    with prefect_stack.client() as client:
        for env in ("staging", "production"):
            schedules = client.read_deployment_by_name(f"enforce-retention/{env}").schedules
            assert [s.schedule.cron for s in schedules] == ["45 3 * * *"], env
    run = prefect_stack.wait_for_final_state(prefect_stack.run_deployment("enforce-retention/local"))
    assert run.state.type.value == "COMPLETED", (run.state.type.value, run.state.message)
    with psycopg.connect(prefect_stack.local_db_url) as conn:
        recorded = conn.execute("SELECT table_name FROM schemaflow.retention_runs ORDER BY 1").fetchall()
    assert recorded == [("public.attribution_events",), ("public.listener_events",)]


def test_no_migrate_deployment_offers_its_environment_and_only_local_offers_a_schema_file(
    prefect_stack: PrefectStack,
) -> None:
    with prefect_stack.client() as client:
        forms = {
            name: set(
                client.read_deployment_by_name(f"migrate/{name}").parameter_openapi_schema["properties"]
            )
            for name in ("staging", "production", "local")
        }
    for name, fields in forms.items():
        assert not fields & {"environment", "database_url", "confirm", "plan_checksum"}, (name, fields)
    with prefect_stack.client() as client:
        for name in ("schema-health/staging", "schema-health/production", "schema-drift/production"):
            fields = set(client.read_deployment_by_name(name).parameter_openapi_schema["properties"])
            assert not fields & {"environment", "database_url", "schema_file"}, (name, fields)
    assert "schema_file" not in forms["staging"] and "schema_file" not in forms["production"]
    assert "schema_file" in forms["local"]
    assert {"dry_run", "plan_only", "run_expectations"} <= forms["staging"]


def test_staging_cannot_be_pointed_at_production_from_the_cli_or_the_api(prefect_stack: PrefectStack) -> None:
    prefect = ROOT / ".venv" / "bin" / "prefect"
    env = {**prefect_stack.env, "PREFECT_API_URL": prefect_stack.api_url}
    for parameter in (
        "environment=production",
        "schema_file=/tmp/other.sql",
        "database_url=postgresql://x@y/z",
    ):
        done = subprocess.run(
            [str(prefect), "deployment", "run", "migrate/staging", "-p", parameter],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0, (parameter, done.stdout, done.stderr)
        assert parameter.split("=")[0] in done.stdout + done.stderr, (parameter, done.stdout, done.stderr)
    # The API accepts a parameter the schema does not name, but the entry flow has no such argument:
    # the run ends as it starts (Prefect: "Process exited ..."), before any task, so it can never
    # reach production.
    run_id = prefect_stack.run_deployment("migrate/staging", {"environment": "production"})
    run = prefect_stack.wait_for_final_state(run_id)
    assert run.state.type.value in ("FAILED", "CRASHED"), run.state  # Prefect refuses the parameter
    with prefect_stack.client() as client:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    assert tasks == [], [t.name for t in tasks]
    print(f"\ne2e: migrate/staging with environment=production via the API: {run.state.message}")


def test_the_staging_workflow_s_trigger_passes_the_merged_commit_that_the_deployment_accepts(
    prefect_stack: PrefectStack,
) -> None:
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy-staging.yml").read_text())
    [trigger] = [
        s["run"] for s in workflow["jobs"]["deploy"]["steps"] if "prefect deployment run" in s.get("run", "")
    ]
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    sha = sha or "0123456789" * 4  # not a git checkout: the parameter's passage is still shown
    env = {
        **prefect_stack.env,
        "PREFECT_API_URL": prefect_stack.api_url,
        "GITHUB_SHA": sha,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    done = subprocess.run(["bash", "-e", "-c", trigger], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    with prefect_stack.client() as client:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

        [run] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"github-sha-{sha[:12]}"]))
        )
    assert run.parameters == {"revision": sha}, run.parameters  # a string, whatever its digits
    # No staging Secret block in this stack: the run is skipped, saying so, before it reads any file.
    assert run.state.type.value == "COMPLETED" and run.state.name == "Skipped", run.state
    print(f"\ne2e: the staging workflow's trigger for {sha[:12]}: {run.state.name} ({run.state.message})")


def test_make_ui_creates_the_concurrency_limits_and_the_failure_automation(
    prefect_stack: PrefectStack,
) -> None:
    from prefect.automations import Automation
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with prefect_stack.client() as client:
        limits = {c.name: c.limit for c in client.read_global_concurrency_limits()}
    assert {limits.get(f"migrate-{env}") for env in ("local", "staging", "production")} == {1}, limits
    with temporary_settings(updates={PREFECT_API_URL: prefect_stack.api_url}):
        automation: Any = Automation.read(name="schemaflow-migrate-production-failed")
    assert automation.enabled
    assert automation.trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert [a.type for a in automation.actions] == ["send-notification"]


def test_production_deployment_has_no_schedule_and_rejects_unknown_parameters(
    prefect_stack: PrefectStack,
) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    with prefect_stack.client() as client:
        deployment = client.read_deployment_by_name("migrate/production")
        assert deployment.schedules == []
        assert "production" in deployment.tags
        assert deployment.parameters == {}
        assert deployment.enforce_parameter_schema is True
        with pytest.raises(PrefectHTTPStatusError):
            client.create_flow_run_from_deployment(deployment.id, parameters={"dry_run": "definitely"})


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
    assert all(r.parameters.get("environment") is None for r in scheduled)  # fixed in code, not a parameter


def test_browser_shows_the_completed_run(prefect_stack: PrefectStack, local_run: Any) -> None:
    require_chromium()
    page = capture(f"{prefect_stack.ui_url}/runs/flow-run/{local_run.id}", "e2e-flow-run")
    print(f"\ne2e: screenshot {page.screenshot}")
    # Rendered by the single-page app from the API, so present only if the UI reached the server.
    for text in ("migrate-local", "Completed", "preflight-local", "verify-local"):
        assert text in page.dom, f"{text!r} not on the flow-run page; see {page.screenshot}"


def test_browser_shows_the_run_report_artifact(prefect_stack: PrefectStack, local_run: Any) -> None:
    require_chromium()
    report = next(a for a in artifacts_of(prefect_stack, local_run.id) if a.key == "migrate-local-report")
    page = capture(f"{prefect_stack.ui_url}/artifacts/artifact/{report.id}", "e2e-report-artifact")
    print(f"\ne2e: screenshot {page.screenshot}")
    for text in ("migrate-local-report", "SUCCESS", "Preflight", "Changes", "Verification"):
        assert text in page.dom, f"{text!r} not on the artifact page; see {page.screenshot}"


def test_browser_shows_the_data_docs_of_the_run(prefect_stack: PrefectStack, local_run: Any) -> None:
    require_chromium()
    verify = next(a for a in artifacts_of(prefect_stack, local_run.id) if a.key == "migrate-local-verify")
    found = re.search(r"file://(/[^'\"\s]+?index\.html)", str(verify.data))
    assert found, f"no Data Docs link in the verify artifact: {verify.data!s:.500}"
    index = Path(found.group(1))
    assert index.is_file(), f"the verify artifact links {index}, which does not exist"
    page = capture(index.as_uri(), "e2e-data-docs-index", virtual_time_ms=5000)
    print(f"\ne2e: screenshot {page.screenshot}")
    # Offline, the index's tables stay empty (their JavaScript comes from CDNs), but the rows are
    # embedded in the page; each links a static validation page, which renders without network.
    links = re.findall(r"'_table_row_link_path': '(validations/[^']+listener_events\.html)'", page.dom)
    assert links, f"no listener_events validation in the Data Docs index; see {page.screenshot}"
    result = capture((index.parent / links[0]).as_uri(), "e2e-data-docs-validation", virtual_time_ms=5000)
    print(f"e2e: screenshot {result.screenshot}")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", result.dom))
    assert "Expectation Suite: event_invariants.listener_events" in text, text[:1000]
    assert "Status: Succeeded" in text, text[:2000]


def failure_hook_wired() -> bool:
    from flows.migrate import migrate
    from tasks.notify import notify_failure

    return notify_failure in (migrate.on_failure_hooks or [])


def require_chromium() -> None:
    if chromium_path() is None:
        pytest.fail("chromium is not installed; run: bash scripts/setup-browser.sh")


def test_second_start_reuses_the_running_server_and_worker(prefect_stack: PrefectStack) -> None:
    pids_before = {p.name: p.read_text().strip() for p in prefect_stack.home.glob("*.pid")}
    assert {"server.pid", "worker.pid"} <= set(pids_before)
    result = prefect_stack.ui_script("start")
    assert result.returncode == 0, result.stderr
    assert "server already running" in result.stderr
    assert "worker already running" in result.stderr
    assert f"http://127.0.0.1:{prefect_stack.port}" in result.stdout
    pids_after = {p.name: p.read_text().strip() for p in prefect_stack.home.glob("*.pid")}
    assert pids_after == pids_before
    status = prefect_stack.ui_script("status")
    assert "server: running" in status.stdout
    assert "worker: running" in status.stdout


def test_nothing_under_the_state_folder_is_readable_or_writable_by_others(
    prefect_stack: PrefectStack, local_run: Any
) -> None:
    """make ui (scripts/ui.sh) + a migrate (local_run, by the worker) + a backup: the Prefect server's
    database and WAL (Secret blocks and their key), logs, PID and port files, lease records, Data Docs,
    reports and backups are the owner's alone."""
    home = prefect_stack.home
    env = {**prefect_stack.env, "PREFECT_API_URL": prefect_stack.api_url}
    schemaflow = Path(sys.executable).parent / "schemaflow"
    backup = subprocess.run(
        [str(schemaflow), "backup", "--env", "local"], env=env, capture_output=True, text=True, timeout=180
    )
    assert backup.returncode == 0, backup.stderr
    walked = [p for p in [home, *home.rglob("*")] if not p.is_symlink()]
    exposed = {
        str(p.relative_to(home)): oct(mode)
        for p in walked
        if (mode := stat.S_IMODE(p.lstat().st_mode)) & 0o066
    }
    names = {p.name for p in walked}
    print(f"\nprivacy walk: {len(walked)} files and folders under {home}, {len(exposed)} open to others")
    assert exposed == {}
    assert {"prefect.db", "server.log", "server.pid", "port", "worker.log", "docs.log", "gx-docs"} <= names
    assert any(n.endswith(".dumpdir") for n in names) and any(n.startswith("migrate-") for n in names)
    assert os.stat(home / "prefect.db").st_uid == os.getuid()
