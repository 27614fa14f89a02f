"""Terminal output for every command: rich on a terminal, plain text when piped or NO_COLOR is set.

On a terminal: coloured PASS/WARN/FAIL, tables sized to the terminal, Markdown rendered, and a live
line per long step (LiveSteps). Piped, or with NO_COLOR / TERM=dumb: the same words with no escape
code at all, one line per finished step, and lines wrapped at $COLUMNS (80 when unset). JSON and
scripts a person pastes (drift --sql, local-db url) go out unwrapped through `print_raw`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from db.clip import clip
from db.progress import ProgressEvent, listening

STATUS_STYLES = {
    "pass": "bold green",
    "ok": "bold green",
    "done": "bold green",
    "present": "green",
    "warn": "bold yellow",
    "skip": "dim",
    "n/a": "dim",
    "success": "green",
    "fail": "bold red",
    "failed": "bold red",
    "missing": "bold red",
}


def plain() -> bool:
    """No colour, no cursor movement: stdout is not a terminal, or NO_COLOR / TERM=dumb asks for it."""
    return not sys.stdout.isatty() or bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


def console(lock: threading.RLock | None = None) -> Console:
    """A stdout console, decided now (tests swap stdout between commands in one process).

    With `lock`, each print holds it from rendering to writing (see _SerialConsole).
    """
    kind = Console if lock is None else partial(_SerialConsole, lock)
    if plain():
        # color_system=None drops every style, bold included: not one escape code is written.
        return kind(color_system=None, force_terminal=False, highlight=False, emoji=False)
    return kind(highlight=False, emoji=False)


class _SerialConsole(Console):
    """A console whose prints never interleave, for a live display that several threads print under.

    rich's Live takes its lock only while it picks how far up to move the cursor; it renders its
    region and writes after letting go. A print racing its refresh then moved up by a stale height
    and erased a finished step's line (lost in 65 of 900 prints under a fast refresh, and once a CI
    run's "DONE pg_dump"). Holding one lock for the whole print, and refreshing under the same lock
    (LiveSteps ticks itself instead of rich's refresh thread), keeps every line.
    """

    def __init__(self, lock: threading.RLock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.print_lock = lock

    def print(self, *objects: Any, **kwargs: Any) -> None:
        with self.print_lock:
            super().print(*objects, **kwargs)


def out(text: str | Text = "") -> None:
    """A line (or several) of text, wrapped at the console's width; `[` in it is never markup."""
    console().print(text, markup=False, highlight=False)


def out_indented(text: str) -> None:
    """Like out(), but a wrapped line continues under its own indent plus four (a plan's step and
    its SQL stay readable as blocks), instead of at column 0."""
    import textwrap

    target = console()
    lines = []
    for line in text.splitlines() or [""]:
        indent = " " * (len(line) - len(line.lstrip(" ")) + 4)
        wrapped = textwrap.wrap(
            line, target.width, subsequent_indent=indent, break_on_hyphens=False, drop_whitespace=True
        )
        lines += wrapped or [""]
    target.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def print_raw(text: str) -> None:
    """Text a program or a shell reads (JSON, SQL, a URL): unwrapped, unstyled, as is."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def print_json(payload: Any) -> None:
    print_raw(json.dumps(payload, indent=2, default=str))


def status(word: str) -> Text:
    """PASS / WARN / FAIL (any status word) upper-cased, in its colour on a terminal."""
    return Text(word.upper(), style=STATUS_STYLES.get(word.lower(), ""))


def coloured(word: str) -> Text:
    """A status word as written (success, failed, ...), in its colour on a terminal."""
    return Text(word, style=STATUS_STYLES.get(word.lower(), ""))


def table(*columns: str, title: str | None = None) -> Table:
    """A table that fits the console: long cells fold onto more lines instead of widening it."""
    grid = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for name in columns:
        grid.add_column(name, overflow="fold")
    return grid


def markdown(text: str) -> None:
    """A Markdown report rendered on a terminal (uncoloured under NO_COLOR); piped, its source as is.

    Markdown is already the plain-text form of the report (the run's log file holds the same), and a
    file of it can be rendered again anywhere.
    """
    if not sys.stdout.isatty():
        print_raw(text)
        return
    console().print(Markdown(text, hyperlinks=False))


def human(amount: float, unit: str) -> str:
    """12.3 MB, 45,000 rows, 3 steps: a count as a person reads it."""
    if unit == "bytes":
        for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if amount >= scale:
                return f"{amount / scale:.1f} {name}"
        return f"{int(amount)} B"
    return f"{int(amount):,} {unit}".rstrip()


STARTING = "prefect"  # the live line while the flow run starts (a temporary server takes seconds)


class LiveSteps:
    """A live line per running step (spinner, counts, rate, elapsed) on a terminal; a line per step end.

    Fed by db.progress events (backup size, rows seeded, plan steps) and by the Prefect run's log
    records (one line per task: preflight, backup, apply, verify), when the flow runs in-process.
    """

    tick_s = 1 / 8  # how often the spinners and elapsed times move

    def __init__(self, *, enabled: bool = True) -> None:
        # One lock orders everything that draws: a print, a refresh, a step starting or ending. It is
        # always taken before rich's own (never inside it), so the two cannot deadlock.
        self.lock = threading.RLock()
        self.console = console(self.lock)
        self.enabled = enabled  # off for --json: stdout then carries nothing but the JSON
        self.live = enabled and not plain()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[detail]}", markup=False),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            auto_refresh=False,  # rich's refresh thread takes its lock before ours; _tick takes ours first
        )
        self.tasks: dict[str, tuple[TaskID, float]] = {}
        self.stopped = threading.Event()
        self.ticker = threading.Thread(target=self._tick, name="live-steps", daemon=True)

    def __enter__(self) -> LiveSteps:
        if self.live:
            with self.lock:
                self.progress.start()
            self.ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        if self.ticker.is_alive():
            self.ticker.join()
        with self.lock:
            for key in list(self.tasks):
                self.finish(key, "")
            if self.live:
                self.progress.stop()

    def _tick(self) -> None:
        while not self.stopped.wait(self.tick_s):
            with self.lock:
                self.progress.refresh()

    def start(
        self, key: str, detail: str = "", total: float | None = None, *, since: float | None = None
    ) -> None:
        """A live line for `key` (once); `since`: when the step really began, for its finished line."""
        with self.lock:
            if key not in self.tasks:
                task = self.progress.add_task(key, total=total, detail=detail)
                self.tasks[key] = (task, since if since is not None else time.monotonic())

    def update(self, key: str, detail: str, *, done: float | None = None, total: float | None = None) -> None:
        with self.lock:
            self.start(key, detail, total)
            task, _ = self.tasks[key]
            self.progress.update(task, detail=detail, completed=done or 0, total=total)

    def finish(self, key: str, detail: str, *, word: str = "done") -> None:
        """Drop the step's live line and print what it did, with its time."""
        with self.lock:
            if key not in self.tasks:
                return
            task, started = self.tasks.pop(key)
            self.progress.remove_task(task)
            took = f" ({time.monotonic() - started:.1f} s)"
            head = Text.assemble(status(word), f" {key}")
            # A step's line fits the terminal: a long detail (a flow run's name) is cut, not wrapped.
            room = self.console.width - len(head) - len(took) - 2
            line = Text.assemble(head, f": {clip(detail, max(room, 10))}" if detail else "", took)
            if self.enabled:
                self.console.print(line)

    def on_event(self, event: ProgressEvent) -> None:
        """A db.progress event: counts and rate so far, or the step's end."""
        with self.lock:
            key = event.step
            started = self.tasks[key][1] if key in self.tasks else time.monotonic()
            detail = _count(event, time.monotonic() - started)
            if event.finished:
                self.start(key)
                self.finish(key, detail, word="fail" if event.failed else "done")
            else:
                self.update(key, detail, done=event.done, total=event.total)

    @contextmanager
    def following_prefect(self) -> Iterator[None]:
        """Show each Prefect task of an in-process flow run as a live step, with its latest log line."""
        handler = _PrefectSteps(self)
        loggers = [logging.getLogger(name) for name in ("prefect.task_runs", "prefect.flow_runs")]
        for logger in loggers:
            logger.addHandler(handler)
        try:
            with listening(self.on_event):
                yield
        finally:
            for logger in loggers:
                logger.removeHandler(handler)


def _count(event: ProgressEvent, seconds: float) -> str:
    parts = []
    if event.done is not None:
        shown = human(event.done, event.unit)
        if event.total:
            shown += f" of {human(event.total, event.unit)}"
        parts.append(shown)
        if event.unit and seconds >= 0.5:
            rate = human(event.done / seconds, event.unit)
            parts.append(f"{rate}/s")
    if event.note:
        parts.append(event.note)
    return ", ".join(parts)


class _PrefectSteps(logging.Handler):
    """Log records of the flow run's tasks -> LiveSteps: a task's first record starts its line."""

    FINISHED = "Finished in state "

    def __init__(self, steps: LiveSteps) -> None:
        super().__init__(level=logging.INFO)
        self.steps = steps
        self.flow = ""  # the flow's live line, from "Beginning flow run" to the flow's end
        # Prefect logs nothing when a task starts; the flow runs its tasks one after another, so a
        # task began when the one before it ended (or when the flow began).
        self.mark = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "task_name", None)
        message = record.getMessage()
        if not name:
            self._flow_record(record, message)
            return
        self.steps.start(name, since=self.mark)
        if message.startswith(self.FINISHED):
            state = message.removeprefix(self.FINISHED).split("(")[0]
            word = "done" if state == "Completed" else "fail" if state in ("Failed", "Crashed") else "skip"
            self.steps.finish(name, state.lower(), word=word)
            self.mark = time.monotonic()
            if self.flow:
                self.steps.update(self.flow, f"{name} {state.lower()}; running the next step")
        else:
            self.steps.update(name, _one_line(message))

    def _flow_record(self, record: logging.LogRecord, message: str) -> None:
        if message.startswith("Beginning flow run"):
            self.steps.finish(STARTING, _one_line(message.removeprefix("Beginning ")))
            self.flow = str(getattr(record, "flow_name", "") or "flow")
            self.mark = time.monotonic()
            self.steps.start(self.flow, "running its first step")
        elif message.startswith(self.FINISHED) and self.flow:
            state = message.removeprefix(self.FINISHED).split("(")[0]
            self.steps.finish(self.flow, state.lower(), word="done" if state == "Completed" else "fail")
            self.flow = ""


def _one_line(text: str, limit: int = 60) -> str:
    """A log message's first line, clipped: the rest of a traceback belongs in the log, not a live line."""
    return clip(text.splitlines()[0] if text else "", limit)


@contextmanager
def step(name: str, detail: str = "", *, enabled: bool = True) -> Iterator[LiveSteps]:
    """One long step outside a flow run (GX suites, a backup, seeding): a live line, then its result.

    db.progress reports made inside the block (pg_dump's size, rows seeded) update their own lines.
    """
    with LiveSteps(enabled=enabled) as steps, listening(steps.on_event):
        steps.start(name, detail)
        try:
            yield steps
        except BaseException:
            steps.finish(name, "failed", word="fail")
            raise
        steps.finish(name, "")
