"""Headless Chromium for the end-to-end tests: a screenshot and the rendered DOM of one page."""

from __future__ import annotations

import shutil
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
    with tempfile.TemporaryDirectory(prefix="schemaflow-chromium-") as profile:
        base = [binary, *_FLAGS, f"--user-data-dir={profile}", budget]
        shot = subprocess.run(
            [*base, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=timeout
        )
        if not screenshot.exists():
            raise RuntimeError(
                f"chromium made no screenshot of {url} (exit {shot.returncode}): {shot.stderr[-2000:]}"
            )
    with tempfile.TemporaryDirectory(prefix="schemaflow-chromium-") as profile:
        base = [binary, *_FLAGS, f"--user-data-dir={profile}", budget]
        dump = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=timeout)
    (ARTIFACTS_DIR / f"{name}.html").write_text(dump.stdout)
    return Page(url=url, screenshot=screenshot, dom=dump.stdout)
