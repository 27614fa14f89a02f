"""Headless Chromium for the end-to-end tests: a screenshot and the rendered DOM of one page."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class Tab:
    """One page of a Chromium driven over the DevTools protocol, in real time: navigate, read, click."""

    def __init__(self, ws: Any, deadline: float) -> None:
        self._ws = ws
        self._ids = iter(range(1, 1_000_000))
        self.deadline = deadline

    def call(self, method: str, **params: object) -> dict[str, Any]:
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=max(1.0, self.deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:200]!r} threw: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def navigate(self, url: str, width: int = 1400, height: int = 1000) -> None:
        """Open `url` in a viewport of `width` x `height` CSS pixels."""
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", **metrics)
        self.call("Page.navigate", url=url)

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def wait_text(self, wanted: str) -> str:
        """The page's visible text once it holds `wanted`; RuntimeError with the text at the deadline."""
        while wanted not in (seen := self.text()):
            if time.monotonic() > self.deadline:
                raise RuntimeError(f"{wanted!r} never appeared; page text: {seen[:1500]}")
            time.sleep(0.5)
        return seen

    def wait_until(self, expression: str, what: str, seconds: float | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy (at most `seconds`); return its value."""
        until = self.deadline if seconds is None else min(self.deadline, time.monotonic() + seconds)
        while not (value := self.evaluate(expression)):
            if time.monotonic() > until:
                raise RuntimeError(f"{what} never happened; page text: {self.text()[:1500]}")
            time.sleep(0.5)
        return value

    def click_button(self, label: str, within: str = "document") -> None:
        """Click the (last, i.e. top-most) button whose text is `label`."""
        click = (
            f"(() => {{ const b = [...{within}.querySelectorAll('button')]"
            f".filter(e => e.innerText.trim() === {json.dumps(label)}).pop();"
            " if (b) b.click(); return !!b; })()"
        )
        if not self.evaluate(click):
            raise RuntimeError(f"no button {label!r}; page text: {self.text()[:1500]}")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shot = self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextlib.contextmanager
def devtools(timeout: float = 120) -> Iterator[Tab]:
    """A headless Chromium with one blank tab, stopped (its whole process group) on the way out."""
    from websockets.sync.client import connect as ws_connect

    binary = chromium_path()
    if binary is None:
        raise RuntimeError("chromium is not installed; run: bash scripts/setup-browser.sh")
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
                tab = Tab(ws, deadline)
                tab.call("Page.enable")
                yield tab
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGTERM)
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(browser.pid, signal.SIGKILL)
                browser.wait(timeout=10)


def capture_after_click(
    url: str, name: str, *, button: str, wait_for: str, expect: str, timeout: float = 120
) -> Page:
    """Open `url`, wait for text `wait_for`, click the button labelled `button`, wait for `expect`,
    then save `test-artifacts/<name>.png`; return the page's visible text as `dom`.

    The CLI's --screenshot cannot click: the approval form of a paused run opens only from its
    Resume button.
    """
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    screenshot = ARTIFACTS_DIR / f"{name}.png"
    screenshot.unlink(missing_ok=True)
    with devtools(timeout) as tab:
        tab.navigate(url)
        tab.wait_text(wait_for)
        tab.click_button(button)
        seen = tab.wait_text(expect)
        time.sleep(1)  # let the modal finish its transition before the picture
        tab.screenshot(screenshot)
    return Page(url=url, screenshot=screenshot, dom=seen)
