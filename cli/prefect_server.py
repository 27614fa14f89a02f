"""Which Prefect server the CLI talks to, and the local one it starts in the background when none runs.

PREFECT_API_URL when set (or set in Prefect's settings, as the test harness does); otherwise the
server `make ui` runs (scripts/ui.sh writes its port and PID files into PREFECT_HOME, the one Prefect
state setting; the Makefile defaults it to .local/prefect, and so does the CLI when PREFECT_HOME is
unset). A command that runs a flow and finds no server starts that same server in the background,
with the same files, and says so: the next command, `make ui` and `make ui-stop` all find it, so
every run shows in the UI and only the first command waits for a server to start (10-29 s for
Prefect's temporary per-process server on every run otherwise). Secret blocks are read only from a
server that already answers: a fresh one has none.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from db.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROBE_TIMEOUT_S = 3.0
DEFAULT_PORT = 4200
# SCHEMAFLOW_PREFECT_SERVER=temporary keeps Prefect's own per-process temporary server (tests that
# must not leave a server behind); the default starts or reuses the local background server.
SERVER_MODE_VAR = "SCHEMAFLOW_PREFECT_SERVER"
STARTUP_TIMEOUT_VAR = "SCHEMAFLOW_UI_STARTUP_TIMEOUT"
CLI_RUN_VAR = "SCHEMAFLOW_CLI_RUN"  # read by tasks/notify.py (no import: cli/ sits above tasks/)

# The console shows our report and one error line, not Prefect's chatter or the tracebacks its engine
# logs for a failed task (--debug shows them); the run logger still sends everything to the API/UI.
QUIET_PREFECT = {
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # Without a configured server a temporary one starts (~7 s idle, far more on a busy machine);
    # Prefect's 20 s default fails the whole run on a loaded CI box.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def ui_state_dir() -> Path:
    """PREFECT_HOME, where Prefect and scripts/ui.sh keep their state; else the Makefile's .local/prefect."""
    configured = os.environ.get("PREFECT_HOME", "").strip()
    return Path(configured).expanduser() if configured else PROJECT_ROOT / ".local" / "prefect"


def ways_out() -> str:
    """What to do when no server answers, naming the folder the CLI looked in."""
    return (
        f"start the local server with `make ui` (the CLI looks for it in {ui_state_dir()}; "
        "export PREFECT_HOME=THAT_FOLDER if make ui used another), or set PREFECT_API_URL=http://HOST:PORT/api"
    )


def ui_server_api() -> str | None:
    """The local server's API URL when its port file exists, its process lives and /health answers.

    A dead server.pid means whatever answers on that port now is another server (another checkout's,
    another PREFECT_HOME's): its runs, artifacts and concurrency slots are not this project's.
    """
    state = ui_state_dir()
    try:
        port = int((state / "port").read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_file_alive(state / "server.pid"):
        return None
    api = f"http://127.0.0.1:{port}/api"
    return api if answers(api) else None


def pid_file_alive(path: Path) -> bool:
    """False only when `path` names a process that is gone (no file: a server started elsewhere)."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def wait_until_gone(pid: int, seconds: float) -> bool:
    """True once process `pid` is gone, polling for up to `seconds`; False if it still runs (or is
    another user's, which we cannot wait on)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def answers(api: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when GET {api}/health returns 200."""
    import urllib.request  # http.client and friends: only when a server must be asked

    try:
        with urllib.request.urlopen(f"{api.rstrip('/')}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment, else `make ui`'s server, else the Prefect profile's."""
    configured = os.environ.get("PREFECT_API_URL", "").strip()
    if configured:
        return configured
    running = ui_server_api()
    if running:
        return running
    from prefect.settings import PREFECT_API_URL  # slow import: only when nothing cheaper answered

    value = PREFECT_API_URL.value()
    return str(value) if value else None


def reachable_api_url() -> str:
    """The API URL of a Prefect server that answers now; SecretUnavailable saying which one did not."""
    from db.connection.credentials import SecretUnavailable

    api = configured_api_url()
    if not api:
        raise SecretUnavailable(
            "no Prefect server: PREFECT_API_URL is unset and no local server answers "
            f"(looked in {ui_state_dir()})",
            hint=ways_out(),
        )
    if not answers(api):
        raise SecretUnavailable(f"Prefect server at {api} unreachable", hint=ways_out())
    return api


def use_server_for_runs() -> None:
    """Send this process's flow runs to a server that stays up: the configured one, the local one, or
    the local one started now in the background (said on stderr), so the run shows in the UI."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get(SERVER_MODE_VAR, "").lower() == "temporary":
        return
    running = ui_server_api()
    if running:
        _share_state_with_local_server()
        os.environ["PREFECT_API_URL"] = running
        return
    from prefect.settings import PREFECT_API_URL  # a profile's or the test harness's server wins

    if PREFECT_API_URL.value():
        return
    _share_state_with_local_server()
    os.environ["PREFECT_API_URL"] = start_local_server()


def prepare_prefect(*, debug: bool | None = None) -> None:
    """Before Prefect is imported: its quiet settings, the console level (with `debug` given: INFO
    for --debug, else CRITICAL), and the server the runs go to. One place, because the warm runner
    (cli/warm_runner.py) must import Prefect under exactly the settings a command would."""
    for key, value in QUIET_PREFECT.items():
        os.environ.setdefault(key, value)
    if debug is not None:
        # Always set (not setdefault): a level inherited from a parent Prefect process would bring
        # back the engine's tracebacks on a plain failed check.
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO" if debug else "CRITICAL"
    use_server_for_runs()


def _share_state_with_local_server() -> None:
    """Runs on make ui's server keep their state (the migrate slot's holder records) where its worker
    does, so a slot held by a worker's run is seen by `schemaflow slot` and by the next CLI run."""
    os.environ.setdefault("PREFECT_HOME", str(ui_state_dir()))


@contextmanager
def flow_run_in_cli() -> Iterator[None]:
    """While the CLI runs a flow in-process: the failure hook (tasks/notify.py) leaves the error to the
    CLI's own line and report instead of adding a banner on stderr and a CRITICAL console record."""
    previous = os.environ.get(CLI_RUN_VAR)
    os.environ[CLI_RUN_VAR] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CLI_RUN_VAR, None)
        else:
            os.environ[CLI_RUN_VAR] = previous


def require_api_url() -> str:
    """For `secrets`: the server to store on or list from; the local one, started now, when none runs."""
    api = configured_api_url()
    if api:
        return api
    if os.environ.get(SERVER_MODE_VAR, "").lower() == "temporary":
        raise ConfigError("no Prefect server to store the secret on", hint=ways_out())
    return start_local_server()


def start_local_server() -> str:
    """Start `make ui`'s Prefect server (no worker, no deployments) under PREFECT_HOME; its API URL.

    Writes server.pid, port and server.log where scripts/ui.sh does, so `make ui` reuses this server
    (adding the worker and deployments) and `make ui-stop` stops it. A lock file makes two commands
    started together share one server.
    """
    import fcntl
    import subprocess

    state = ui_state_dir()
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "server.start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other command's server may answer once we hold it
        running = ui_server_api()
        if running:
            return running
        port = _choose_port()
        api = f"http://127.0.0.1:{port}/api"
        prefect = Path(sys.executable).with_name("prefect")
        env = {
            **os.environ,
            "PREFECT_HOME": str(state),
            "PREFECT_UI_API_URL": api,
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        log_path = state / "server.log"
        print(
            "schemaflow: no Prefect server runs; starting the local one in the background on "
            f"127.0.0.1:{port} (state and log in {state}); later commands and `make ui` reuse it, "
            "`make ui-stop` stops it",
            file=sys.stderr,
        )
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [
                    str(prefect),
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--analytics-off",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=PROJECT_ROOT,
                start_new_session=True,  # its own process group, as ui.sh's setsid: ui-stop signals it whole
            )
        (state / "server.pid").write_text(f"{server.pid}\n")
        (state / "port").write_text(f"{port}\n")
        _wait_until_answering(server, api, log_path)
    print(
        f"schemaflow: Prefect server ready; runs show in the UI at http://127.0.0.1:{port}", file=sys.stderr
    )
    return api


def stop_local_server(state: Path | None = None) -> None:
    """Stop the server start_local_server started under `state` (default PREFECT_HOME), by its PID file:
    SIGTERM to its process group, SIGKILL after 10 s. `make ui-stop` does the same for make ui's."""
    import signal

    from cli.warm_runner import stop_runner

    stop_runner(state or ui_state_dir())
    pid_file = (state or ui_state_dir()) / "server.pid"
    try:
        pid = int(pid_file.read_text())
        os.killpg(pid, signal.SIGTERM)
    except (OSError, ValueError):  # no file, or the process is gone (ProcessLookupError)
        return
    if wait_until_gone(pid, 10.0):
        pid_file.unlink(missing_ok=True)
        return
    os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def _wait_until_answering(server, api: str, log_path: Path) -> None:  # type: ignore[no-untyped-def]
    limit = float(os.environ.get(STARTUP_TIMEOUT_VAR) or 120)
    deadline = time.monotonic() + limit
    while not answers(api, timeout=1.0) or server.poll() is not None:
        # Something answering while ours has exited is another server that took the port first.
        if server.poll() is not None:
            raise ConfigError(
                f"the local Prefect server exited (code {server.returncode}) before answering",
                hint=f"read the end of {log_path}; start it by hand with `make ui` to see why",
            )
        if time.monotonic() > deadline:
            raise ConfigError(
                f"the local Prefect server did not answer within {limit:.0f} s (log: {log_path})",
                hint=f"re-run the command when it answers, or wait longer with {STARTUP_TIMEOUT_VAR}=300",
            )
        time.sleep(0.5)


def _choose_port() -> int:
    """4200 when free (the UI's usual address), else any free loopback port, as scripts/ui.sh picks."""
    import socket

    for wanted in (int(os.environ.get("SCHEMAFLOW_UI_PORT") or DEFAULT_PORT), 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", wanted))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise ConfigError(
        "no free loopback port for the Prefect server", hint="free port 4200 or set SCHEMAFLOW_UI_PORT"
    )
