"""The change loop's start-up: `--version` loads nothing heavy, and runs share one background server.

Before, `--version` imported every command module (psycopg, pydantic, pglast, rich), and every
migrate without `make ui` started Prefect's temporary server (10-29 s) whose runs vanished with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cli.prefect_server import stop_local_server
from db.local.cluster import free_port
from tests.support.environments import MIGRATE_ENVIRONMENTS

LOADED = """
import sys
from cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("prefect", "great_expectations", "pandas", "psycopg", "pydantic", "pglast")
print("LOADED=" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
"""


def _loaded(*argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, timeout=60)
    line = next(line for line in done.stdout.splitlines() if line.startswith("LOADED="))
    return {name for name in line.removeprefix("LOADED=").split(",") if name}


def test_version_loads_nothing_heavy_and_help_no_prefect_gx_or_pandas() -> None:
    assert _loaded("--version") == set()
    assert not _loaded("--help") & {"prefect", "great_expectations", "pandas"}


def _flow_runs(api: str) -> list[dict]:
    request = urllib.request.Request(
        f"{api}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return list(json.load(response))


def test_the_first_run_starts_the_local_server_and_the_next_reuses_it(tmp_path: Path, db_url: str) -> None:
    state = tmp_path / "prefect"
    (tmp_path / "environments.toml").write_text(MIGRATE_ENVIRONMENTS.format(root=tmp_path))
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "SCHEMAFLOW_PREFECT_SERVER")}
    env.update(
        PREFECT_HOME=str(state),
        SCHEMAFLOW_UI_PORT=str(free_port()),
        SCHEMAFLOW_ENVIRONMENTS=str(tmp_path / "environments.toml"),
        SCHEMAFLOW_TEST_URL=db_url,
    )
    exe = Path(sys.executable).with_name("schemaflow")
    argv = [str(exe), "migrate", "--env", "dev", "--dry-run", "--skip-expectations"]
    try:
        times = []
        runs = []
        for _ in range(2):
            clock = time.monotonic()
            runs.append(subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env))
            times.append(time.monotonic() - clock)
        print(f"\nfirst migrate --dry-run (starts the server): {times[0]:.1f} s; second: {times[1]:.1f} s")
        first, second = runs
        assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
        assert "starting the local one in the background" in first.stderr, first.stderr
        assert "`make ui-stop` stops it" in first.stderr
        assert "starting" not in second.stderr, second.stderr  # the running server was reused
        port = int((state / "port").read_text())
        assert (state / "server.pid").exists() and (state / "server.log").exists()  # where make ui looks
        names = [run["name"] for run in _flow_runs(f"http://127.0.0.1:{port}/api")]
        assert len(names) == 2, names  # both runs are on the server that stays: visible in the UI
    finally:
        stop_local_server(state)


@pytest.mark.usefixtures("prefect_harness")
def test_a_configured_server_is_used_and_none_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test harness's server (in Prefect's settings, not the environment) wins over starting one."""
    from cli.prefect_server import use_server_for_runs

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("SCHEMAFLOW_PREFECT_SERVER", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    use_server_for_runs()
    assert "PREFECT_API_URL" not in os.environ and not (tmp_path / "prefect" / "server.pid").exists()


def test_a_port_file_whose_server_died_is_not_trusted_even_if_something_answers_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another checkout's server took the port: its runs and slots are not ours, so start our own."""
    import http.server
    import threading

    from cli.prefect_server import ui_server_api

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    foreign = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
        (tmp_path / "port").write_text(f"{foreign.server_address[1]}\n")
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        (tmp_path / "server.pid").write_text(f"{gone.pid}\n")
        assert ui_server_api() is None
        (tmp_path / "server.pid").write_text(f"{os.getpid()}\n")  # a live server process: trusted
        assert ui_server_api() == f"http://127.0.0.1:{foreign.server_address[1]}/api"
    finally:
        foreign.shutdown()
