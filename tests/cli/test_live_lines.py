"""Every finished step's line stays on screen while other threads print and the live lines refresh.

rich's Live renders its region outside its own lock, so a print racing a refresh moved the cursor up
by a stale height and erased a line just printed (CI lost "DONE pg_dump" and, once, "DONE backup").
The escape codes LiveSteps writes are replayed on a small terminal model to read what a person sees.
"""

from __future__ import annotations

import io
import re
import sys
import threading

import pytest

from cli.console import LiveSteps
from db.progress import ProgressEvent

WIDTH = 80
THREADS = 3
STEPS = 200
# The codes rich writes for a live region: carriage return, cursor up (CSI n A), erase line (CSI 2 K),
# colours (CSI ... m) and cursor show/hide (CSI ? 25 h/l).
TOKEN = re.compile(r"\x1b\[(\??)([\d;]*)([A-Za-z])|\r|\n|[^\x1b\r\n]")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(output: str, width: int = WIDTH) -> list[str]:
    """The lines a terminal of `width` columns shows (with its scrollback) after `output`."""
    lines, row, col = [""], 0, 0
    for match in TOKEN.finditer(output):
        token = match[0]
        if token == "\r":
            col = 0
        elif token == "\n":  # the tty turns \n into \r\n
            row, col = row + 1, 0
        elif token.startswith("\x1b"):
            private, number, code = match.groups()
            if private:
                continue
            if code == "A":
                row = max(0, row - int(number or 1))
            elif code == "K":
                lines[row] = ""
            continue
        else:
            if col >= width:
                row, col = row + 1, 0
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + 1 :]
            col += 1
        lines.extend("" for _ in range(row + 1 - len(lines)))
    return [line.rstrip() for line in lines]


def test_no_finished_line_is_erased_by_a_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setenv("LINES", "40")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    # Thread switches every 10 µs and a refresh every 2 ms make the race a matter of milliseconds
    # (before the fix, 65 of 900 lines were lost this way).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        steps = LiveSteps()
        steps.tick_s = 0.002
        with steps:

            def run(worker: int) -> None:
                for n in range(STEPS):
                    key = f"s{worker}-{n}"
                    steps.start(key, "x" * (n % 50))
                    steps.on_event(ProgressEvent(key, done=n * 1024, unit="bytes"))
                    steps.finish(key, "ok")

            threads = [threading.Thread(target=run, args=(w,)) for w in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(interval)
    shown = screen(terminal.getvalue())
    done = {line.split()[1].rstrip(":") for line in shown if line.startswith("DONE ")}
    missing = [f"s{w}-{n}" for w in range(THREADS) for n in range(STEPS) if f"s{w}-{n}" not in done]
    assert not missing, f"{len(missing)} of {THREADS * STEPS} finished lines were erased: {missing[:5]}"
    assert all(len(line) <= WIDTH for line in shown)
    # The live region is transient: when the block ends, no spinner line is left behind.
    assert not [line for line in shown if line and not line.startswith("DONE ")], shown[-5:]


def test_a_long_detail_is_cut_to_the_terminal_not_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    name = "flow run 'migrate-production-apply-127.0.0.1-32789-119ec0f3a9d2' " + "x" * 40
    with LiveSteps() as steps:
        steps.start("prefect")
        steps.finish("prefect", name)
    shown = [line for line in screen(terminal.getvalue()) if line]
    assert len(shown) == 1 and shown[0].startswith("DONE prefect: flow run 'migrate-production"), shown
    assert shown[0].endswith(" s)") and "…" in shown[0] and len(shown[0]) <= WIDTH, shown
