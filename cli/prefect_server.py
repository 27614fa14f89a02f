"""Which Prefect server the CLI talks to, found without starting one.

PREFECT_API_URL when set; otherwise the server `make ui` runs (scripts/ui.sh writes its port file into
PREFECT_HOME, the one Prefect state setting; the Makefile defaults it to .local/prefect) when it
answers; otherwise a URL from the active Prefect profile. Never a temporary server: a Secret block
can only live on a real one, and starting a throwaway server to learn that costs seconds and prints
tracebacks.
"""

from __future__ import annotations

import os
from pathlib import Path

from db.errors import ConfigError

PROBE_TIMEOUT_S = 3.0
WAYS_OUT = "start the local server with `make ui`, or set PREFECT_API_URL=http://HOST:4200/api"


def ui_state_dir() -> Path:
    """PREFECT_HOME, where Prefect (and scripts/ui.sh) keep their state; Prefect's own default without it."""
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


def ui_server_api() -> str | None:
    """`make ui`'s API URL when its port file exists and /health answers, else None."""
    try:
        port = int((ui_state_dir() / "port").read_text().strip())
    except (OSError, ValueError):
        return None
    api = f"http://127.0.0.1:{port}/api"
    return api if answers(api) else None


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
            "no Prefect server: PREFECT_API_URL is unset and `make ui`'s server does not answer",
            hint=WAYS_OUT,
        )
    if not answers(api):
        raise SecretUnavailable(f"Prefect server at {api} unreachable", hint=WAYS_OUT)
    return api


def use_server_for_runs() -> None:
    """Send a CLI flow run to `make ui`'s server when it answers (visible in the UI, no startup wait)."""
    if os.environ.get("PREFECT_API_URL"):
        return
    running = ui_server_api()
    if running:
        os.environ["PREFECT_API_URL"] = running


def require_api_url() -> str:
    """For `secrets`: the server to store on or list from; ConfigError with both ways out if none."""
    api = configured_api_url()
    if not api:
        raise ConfigError("no Prefect server to store the secret on", hint=WAYS_OUT)
    return api
