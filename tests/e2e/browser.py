"""Headless Chromium for the end-to-end tests: a screenshot and the rendered DOM of one page."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"
# No network beyond the page itself, no first-run or sync chatter: the machine may be offline.
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1400,1000",
]


@dataclass(frozen=True)
class Page:
    """What the browser saw: the screenshot file and the DOM after scripts ran."""

    url: str
    screenshot: Path
    dom: str


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed (scripts/setup-browser.sh installs it)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _profile() -> tempfile.TemporaryDirectory[str]:
    """A throwaway Chromium profile; its helper processes may still write to it as the browser exits."""
    return tempfile.TemporaryDirectory(prefix="schemaflow-chromium-", ignore_cleanup_errors=True)


def capture(url: str, name: str, *, virtual_time_ms: int = 15000, timeout: float = 90) -> Page:
    """Open `url` headless, save `test-artifacts/<name>.png` and return the page's rendered DOM."""
    binary = chromium_path()
    if binary is None:
        raise RuntimeError("chromium is not installed; run: bash scripts/setup-browser.sh")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    screenshot = ARTIFACTS_DIR / f"{name}.png"
    screenshot.unlink(missing_ok=True)
    # virtual-time-budget lets the single-page app fetch from the API and render before the snapshot.
    budget = f"--virtual-time-budget={virtual_time_ms}"
    with _profile() as profile:
        base = [binary, *_FLAGS, f"--user-data-dir={profile}", budget]
        shot = subprocess.run(
            [*base, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=timeout
        )
        if not screenshot.exists():
            raise RuntimeError(
                f"chromium made no screenshot of {url} (exit {shot.returncode}): {shot.stderr[-2000:]}"
            )
    with _profile() as profile:
        base = [binary, *_FLAGS, f"--user-data-dir={profile}", budget]
        dump = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=timeout)
    (ARTIFACTS_DIR / f"{name}.html").write_text(dump.stdout)
    return Page(url=url, screenshot=screenshot, dom=dump.stdout)


def capture_after_click(
    url: str, name: str, *, button: str, wait_for: str, expect: str, timeout: float = 120
) -> Page:
    """Open `url`, wait for text `wait_for`, click the button labelled `button`, wait for `expect`,
    then save `test-artifacts/<name>.png`; return the page's visible text as `dom`.

    Drives Chromium over the DevTools protocol (one browser, real time), because the CLI's
    --screenshot cannot click: the approval form of a paused run opens only from its Resume button.
    """
    import base64
    import json
    import time
    import urllib.request

    from websockets.sync.client import connect as ws_connect

    binary = chromium_path()
    if binary is None:
        raise RuntimeError("chromium is not installed; run: bash scripts/setup-browser.sh")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    screenshot = ARTIFACTS_DIR / f"{name}.png"
    screenshot.unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    with _profile() as profile:
        browser = subprocess.Popen(
            [binary, *_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the helpers end with it
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            while not port_file.exists() or not port_file.read_text().strip():
                if time.monotonic() > deadline:
                    raise RuntimeError("chromium did not open its DevTools port")
                time.sleep(0.2)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                targets = json.load(answer)
            socket_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            with ws_connect(socket_url, max_size=None, open_timeout=30) as ws:
                counter = iter(range(1, 1_000_000))

                def call(method: str, **params: object) -> dict:
                    ident = next(counter)
                    ws.send(json.dumps({"id": ident, "method": method, "params": params}))
                    while True:
                        message = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
                        if message.get("id") == ident:
                            return message.get("result", {})

                def text() -> str:
                    result = call(
                        "Runtime.evaluate", expression="document.body.innerText", returnByValue=True
                    )
                    return str(result.get("result", {}).get("value") or "")

                def wait_text(wanted: str) -> str:
                    while wanted not in (seen := text()):
                        if time.monotonic() > deadline:
                            raise RuntimeError(
                                f"{wanted!r} never appeared on {url}; page text: {seen[:1500]}"
                            )
                        time.sleep(0.5)
                    return seen

                call("Page.enable")
                call("Page.navigate", url=url)
                wait_text(wait_for)
                click = (
                    "(() => { const b = [...document.querySelectorAll('button')]"
                    f".find(e => e.innerText.trim() === {json.dumps(button)});"
                    " if (b) b.click(); return !!b; })()"
                )
                clicked = call("Runtime.evaluate", expression=click, returnByValue=True)
                if not clicked.get("result", {}).get("value"):
                    raise RuntimeError(f"no button {button!r} on {url}")
                seen = wait_text(expect)
                time.sleep(1)  # let the modal finish its transition before the picture
                shot = call("Page.captureScreenshot", format="png")
                screenshot.write_bytes(base64.b64decode(shot["data"]))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGTERM)
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(browser.pid, signal.SIGKILL)
                browser.wait(timeout=10)
    return Page(url=url, screenshot=screenshot, dom=seen)
