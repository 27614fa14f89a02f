"""Unfinished backups: each one is claimed by a lock while pg_dump writes it; unclaimed ones are removed.

pg_dump writes into `<name>.partial`, renamed to `<name>` only once verified. A backup killed midway
(kill -9, a lost machine) leaves the `.partial` behind, and nothing else would ever remove it: pruning
counts only finished backups. The next backup of the same environment removes it, but never one that
a concurrent backup is still writing: every backup holds an exclusive flock on `<name>.partial.lock`
from before pg_dump starts until the folder is renamed or removed. The kernel drops the lock when the
holder dies however it dies, so "can I take the lock?" is exactly "is its writer gone?".

A `.partial` without a lock file was left by a schemaflow from before the locks; it counts as stale
once nothing in it has changed for LOCKLESS_STALE_SECONDS.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
LOCKLESS_STALE_SECONDS = 15 * 60


@contextmanager
def claimed(partial: Path) -> Iterator[Path]:
    """Hold `<partial>.lock` while the body writes `partial`; the lock file is removed afterwards."""
    lock = lock_path(partial)
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh timestamped name: nobody else waits on it
        os.write(fd, f"{os.getpid()}\n".encode())
        yield partial
    finally:
        lock.unlink(missing_ok=True)  # before unlocking: a sweeper never sees it unlocked yet present
        os.close(fd)


def lock_path(partial: Path) -> Path:
    return partial.with_name(partial.name + LOCK_SUFFIX)


def remove_stale_partials(directory: Path, belongs: Callable[[str], bool]) -> list[Path]:
    """Remove the unfinished backups in `directory` whose writer is gone; `belongs(name)` picks the env's.

    `belongs` is called with a final backup name (the `.partial` suffix removed).
    """
    if not directory.is_dir():
        return []
    removed: list[Path] = []
    for partial in sorted(directory.glob("*" + PARTIAL_SUFFIX)):
        if not belongs(partial.name[: -len(PARTIAL_SUFFIX)]):
            continue
        if _is_stale(partial):
            shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(
                missing_ok=True
            )
            lock_path(partial).unlink(missing_ok=True)
            removed.append(partial)
    # Lock files whose folder is gone (the writer died before pg_dump created it).
    for lock in directory.glob("*" + PARTIAL_SUFFIX + LOCK_SUFFIX):
        partial = lock.with_name(lock.name[: -len(LOCK_SUFFIX)])
        mine = belongs(partial.name[: -len(PARTIAL_SUFFIX)])
        if mine and not partial.exists() and _lock_is_free(lock):
            lock.unlink(missing_ok=True)
    return removed


def _is_stale(partial: Path) -> bool:
    lock = lock_path(partial)
    if lock.exists():
        return _lock_is_free(lock)
    newest = max((p.stat().st_mtime for p in [partial, *partial.rglob("*")]), default=0.0)
    return time.time() - newest > LOCKLESS_STALE_SECONDS


def _lock_is_free(lock: Path) -> bool:
    """True when no live process holds `lock` (taken and released at once to find out)."""
    try:
        fd = os.open(lock, os.O_WRONLY)
    except FileNotFoundError:
        return False  # its writer just finished and removed it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases the lock if we took it
    return True
