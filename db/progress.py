"""Progress of long steps (a backup's size so far, rows seeded, the plan step running), for a listener.

db/ never draws anything: a long function takes an optional `progress` callable and, without one,
reports to whoever listens in this process (the CLI's live display, cli/console.py, listens while
it runs a flow in-process). With no listener a report costs a list check, so flows and tests that
nobody watches pay nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProgressEvent:
    """One step's state: `done` of `total` `unit`s so far (either may be unknown), or its end."""

    step: str
    done: float | None = None
    total: float | None = None
    unit: str = ""  # "bytes", "rows", "steps", or "" for a step with no count
    note: str = ""
    finished: bool = False
    failed: bool = False


Progress = Callable[[ProgressEvent], None]

_listeners: list[Progress] = []
_lock = threading.Lock()
WATCH_INTERVAL_S = 0.5


def report(event: ProgressEvent) -> None:
    """Hand `event` to every listener; a broken listener never breaks the step it watches."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        with suppress(Exception):  # a broken display is not worth a failed backup
            listener(event)


def reporter(progress: Progress | None) -> Progress:
    """What a db/ function reports to: its `progress` argument, else this process's listeners."""
    return progress or report


@contextmanager
def listening(listener: Progress) -> Iterator[None]:
    """Send every report made in this process (any thread) to `listener` while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def is_watched() -> bool:
    """True when someone listens, so a caller can skip work (polling a size) nobody would see."""
    return bool(_listeners)


@contextmanager
def watching_size(path: Path, step: str, progress: Progress | None = None) -> Iterator[None]:
    """Report the bytes under `path` every WATCH_INTERVAL_S while the block runs (pg_dump writing)."""
    notify = reporter(progress)
    if progress is None and not is_watched():
        yield
        return
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(WATCH_INTERVAL_S):
            notify(ProgressEvent(step, done=tree_size(path), unit="bytes"))

    thread = threading.Thread(target=poll, name=f"progress-{step}", daemon=True)
    thread.start()
    failed = True
    try:
        yield
        failed = False
    finally:
        stop.set()
        thread.join()
        notify(ProgressEvent(step, done=tree_size(path), unit="bytes", finished=True, failed=failed))


def tree_size(path: Path) -> int:
    """Bytes in the files under `path` (0 while it does not exist yet); files vanishing are skipped."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
