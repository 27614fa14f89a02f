"""A real Prefect stack for the end-to-end tests: server, work pool, deployments and worker.

The stack is started with the same script as `make ui` (scripts/ui.sh) but with a temporary
PREFECT_HOME, a free loopback port and a temporary environments file whose `local` and `production`
environments point at fresh databases on the `pg_cluster` fixture. Everything it started is stopped
at the end of the session, pass or fail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from db.local.cluster import LocalCluster, free_port
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
UI_SCRIPT = ROOT / "scripts" / "ui.sh"
# SCHEMAFLOW_E2E_PREFECT_FILE tries another deployments file (e.g. while a flow is being written).
PREFECT_FILE = Path(os.environ.get("SCHEMAFLOW_E2E_PREFECT_FILE") or ROOT / "prefect.yaml")
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

ENVIRONMENTS_TOML = """\
# Written by tests/e2e/conftest.py: the deployments' environments, pointed at test databases.
[defaults]
backup_dir = "{tmp}/backups"
report_log = "{tmp}/logs/migrate-{{name}}.log"

[environments.local]
description = "e2e: a fresh database on the test cluster"
database_url_env = "SCHEMAFLOW_E2E_LOCAL_URL"
require_backup = false
require_confirmation = false
timescaledb = "preferred"

[environments.staging]
description = "e2e: not set up, as on a fresh checkout: its Secret block is never stored"
secret_block = "schemaflow-e2e-staging-database-url"

[environments.production]
description = "e2e: a fresh database that stays untouched until a plan is approved"
database_url_env = "SCHEMAFLOW_E2E_PRODUCTION_URL"
require_backup = true
require_confirmation = true
require_approval = true
# Short, so the timed-out approval test takes two minutes, not an hour (long enough for its screenshot).
approval_timeout = "{approval_timeout}"
"""
APPROVAL_TIMEOUT_SECONDS = 120  # the first test checks the form in Chromium inside it, on a loaded machine


@dataclass(frozen=True)
class PrefectStack:
    """The running stack: where its API and UI answer and which databases its environments use."""

    home: Path
    port: int
    local_db_url: str
    production_db_url: str
    started_seconds: float
    env: dict[str, str] = field(repr=False)
    alerts: AlertInbox | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def client(self) -> Iterator[Any]:
        """A synchronous Prefect client talking to this stack's server."""
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings(updates={PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client

    def run_deployment(self, name: str, parameters: dict[str, Any] | None = None) -> UUID:
        """Create a flow run of deployment `flow/deployment` now; return its id."""
        with self.client() as client:
            deployment = client.read_deployment_by_name(name)
            run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters or {})
        return run.id

    def wait_for_final_state(self, flow_run_id: UUID, timeout: float = 150) -> Any:
        """Poll until the flow run is final; fail with the worker's log tail when it takes too long."""
        return self.wait_for_state(flow_run_id, FINAL_STATES, timeout)

    def wait_for_state(
        self, flow_run_id: UUID, types: set[str], timeout: float = 150, after: Any = None
    ) -> Any:
        """Poll until the run's state type is one of `types` (and, with `after`, newer than it)."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                run = client.read_flow_run(flow_run_id)
                if (
                    run.state is not None
                    and run.state.type.value in types
                    and (after is None or run.state.timestamp > after)
                ):
                    return run
                if types != FINAL_STATES and run.state is not None and run.state.type.value in FINAL_STATES:
                    pytest.fail(
                        f"flow run {run.name} ended {run.state.type.value} ({run.state.message}) "
                        f"while waiting for {sorted(types)}\n{self.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    state = run.state.type.value if run.state else "no state"
                    pytest.fail(f"flow run {run.name} still {state} after {timeout:.0f}s\n{self.log_tail()}")
                time.sleep(1)

    def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> None:
        """Resume a paused run with `run_input` for its wait_for_input form, as the UI's Resume does."""
        from prefect.flow_runs import resume_flow_run
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            resume_flow_run(flow_run_id, run_input=run_input)

    def states_of(self, flow_run_id: UUID) -> list[Any]:
        """Every state the run went through, oldest first."""
        with self.client() as client:
            return sorted(client.read_flow_run_states(flow_run_id), key=lambda state: state.timestamp)

    def ui_script(self, action: str) -> subprocess.CompletedProcess[str]:
        """Run `scripts/ui.sh ACTION` against this stack."""
        return _ui_script(action, self.env, timeout=240)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the worker's and server's logs, for failure messages."""
        parts = []
        for name in ("worker", "server", "deploy"):
            path = self.home / f"{name}.log"
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(text))
        return "\n".join(parts)


def _ui_script(action: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(UI_SCRIPT), action], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _kill_leftovers(home: Path) -> None:
    """Last resort after `ui.sh stop`: SIGKILL any process group whose PID file is still there."""
    for pidfile in home.glob("*.pid"):
        with suppress(ValueError, ProcessLookupError, PermissionError):
            os.killpg(int(pidfile.read_text().strip()), signal.SIGKILL)


class AlertInbox:
    """A loopback HTTP endpoint standing in for the team's chat webhook: it keeps every POST body."""

    def __init__(self) -> None:
        inbox = self
        self.received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    inbox.received.append(json.loads(body or b"{}"))
                except ValueError:
                    inbox.received.append({"raw": body.decode(errors="replace")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="session")
def prefect_stack(
    pg_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectStack]:
    """Server + work pool + every deployment in prefect.yaml + one worker, for the whole session."""
    home = tmp_path_factory.mktemp("prefect-home")
    local_url = create_database(pg_cluster, "e2e_local")
    production_url = create_database(pg_cluster, "e2e_production")
    environments = home / "environments.toml"
    environments.write_text(
        ENVIRONMENTS_TOML.format(tmp=home, approval_timeout=f"{APPROVAL_TIMEOUT_SECONDS}s")
    )
    environments.chmod(0o600)  # private like everything the stack writes here (the privacy walk)
    alerts = AlertInbox()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(
        PREFECT_HOME=str(home),
        SCHEMAFLOW_UI_PORT=str(port),
        SCHEMAFLOW_PREFECT_FILE=str(PREFECT_FILE),
        SCHEMAFLOW_ENVIRONMENTS=str(environments),
        SCHEMAFLOW_E2E_LOCAL_URL=local_url,
        SCHEMAFLOW_E2E_PRODUCTION_URL=production_url,
        # Data Docs under the stack's own folder, off the developer's .local/ (the privacy walk reads it).
        SCHEMAFLOW_GX_DOCS_DIR=str(home / "gx-docs"),
        # Pick runs up within ~2 s instead of the default 10 s.
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_LOGGING_LEVEL="INFO",
        # A failed production run is announced here (automations/migrate-production-failed.yaml).
        SCHEMAFLOW_ALERT_WEBHOOK_URL=alerts.url,
        SCHEMAFLOW_ALERT_ALLOW_PRIVATE_URLS="true",
    )
    env.pop("DATABASE_URL", None)
    started = time.monotonic()
    try:
        result = _ui_script("start", env, timeout=240)
        stack = PrefectStack(home, port, local_url, production_url, time.monotonic() - started, env, alerts)
        if result.returncode != 0:
            pytest.fail(
                f"scripts/ui.sh start failed ({result.returncode}):\n{result.stderr}\n{stack.log_tail()}"
            )
        print(f"\ne2e: Prefect stack up in {stack.started_seconds:.1f}s at {stack.ui_url}\n{result.stderr}")
        yield stack
    finally:
        stopped = time.monotonic()
        result = _ui_script("stop", env, timeout=120)
        print(f"\ne2e: ui.sh stop took {time.monotonic() - stopped:.1f}s: {result.stderr.strip()}")
        _kill_leftovers(home)
        alerts.close()
        drop_database(pg_cluster, local_url)
        drop_database(pg_cluster, production_url)
