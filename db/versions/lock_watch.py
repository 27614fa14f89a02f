"""While a one-off runs, nobody waits behind it longer than the environment's lock_timeout.

lock_timeout bounds how long the one-off *waits* for a lock, not how long it *holds* one: a file that
takes ACCESS EXCLUSIVE on a table (an ALTER TABLE, a LOCK, even through a computed EXECUTE or a
function the lint cannot read) and then works for 20 s keeps every reader and writer of that table
waiting 20 s. A second session watches the one-off's backend: when any session has waited on a lock
the one-off holds for longer than lock_timeout, it cancels the one-off's statement, so its
transaction rolls back and the waiters go on. A file whose header acknowledges its locks
(`-- schemaflow: locks acknowledged: <reason>`) is not watched: holding them is what was reviewed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from types import TracebackType

import psycopg
from psycopg import sql

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.versions.files import MigrationFile

POLL_SECONDS = 0.2
# The sessions waiting on a lock `pid` holds (pg_locks.waitstart: PostgreSQL 14+), the longest wait.
# Not advisory locks: another migrate asks for the migration lock without waiting.
WAITERS_SQL = """
SELECT count(*)::int,
       coalesce(max(extract(epoch FROM clock_timestamp() - l.waitstart)), 0)::float8,
       coalesce(string_agg(DISTINCT coalesce(l.relation::regclass::text, l.locktype), ', '), '')
FROM pg_locks l
WHERE NOT l.granted AND l.waitstart IS NOT NULL AND l.locktype <> 'advisory'
  AND %(pid)s = ANY (pg_blocking_pids(l.pid))
"""
LOCK_TIMEOUT_MS_SQL = "SELECT setting::float8 FROM pg_settings WHERE name = 'lock_timeout'"


@dataclass
class HeldTooLong:
    """What the watch saw when it cancelled the one-off."""

    sessions: int
    waited: float
    objects: str
    limit: str

    def describe(self) -> str:
        return (
            f"it held a lock on {self.objects or 'an object'} that kept {self.sessions} session(s) waiting "
            f"{self.waited:.1f} s, longer than the environment's lock_timeout ({self.limit}), so it was "
            "cancelled"
        )


class LockWatch:
    """`with LockWatch(url, pid, "1s"):` around a one-off's statements; `.tripped` says if it cancelled."""

    def __init__(
        self, url: str, pid: int, lock_timeout: str, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    ) -> None:
        self.url, self.pid, self.limit, self.connect_timeout = url, pid, lock_timeout, connect_timeout
        self.tripped: HeldTooLong | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None

    def __enter__(self) -> LockWatch:
        self._conn = connect(
            self.url,
            autocommit=True,
            connect_timeout=self.connect_timeout,
            application_name="schemaflow-lock-watch",
        )
        self._conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(self.limit)))
        row = self._conn.execute(LOCK_TIMEOUT_MS_SQL).fetchone()
        limit_seconds = (row[0] if row else 0) / 1000
        if limit_seconds > 0:  # lock_timeout 0 means no limit: nothing to enforce
            self._conn.execute("SET lock_timeout = '1s'")  # the watch's own catalog reads never queue long
            self._conn.execute("SET search_path = pg_catalog")  # regclass names come schema-qualified
            self._thread = threading.Thread(target=self._watch, args=(limit_seconds,), daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()

    def _watch(self, limit_seconds: float) -> None:
        assert self._conn is not None
        while not self._stop.wait(POLL_SECONDS):
            try:
                row = self._conn.execute(WAITERS_SQL, {"pid": self.pid}).fetchone()
            except psycopg.Error:
                continue  # a missed poll only delays the check by one interval
            if row and row[0] and row[1] > limit_seconds:
                # Again at every poll while they wait: a cancel that lands between two statements
                # cancels nothing, and the next statement would go on holding the lock.
                self.tripped = self.tripped or HeldTooLong(row[0], row[1], row[2], self.limit)
                with suppress(psycopg.Error):
                    self._conn.execute("SELECT pg_cancel_backend(%s)", (self.pid,))


def watch_one_offs(
    conn: psycopg.Connection,
    files: Iterable[MigrationFile],
    lock_timeout: str,
    url: str,
    connect_timeout: int,
) -> AbstractContextManager[LockWatch | None]:
    """A fresh watch of `conn`'s backend while `files` run; none when one of them acknowledges its locks."""
    if any(f.locks_acknowledged for f in files):
        return nullcontext()
    return LockWatch(url, conn.info.backend_pid, lock_timeout, connect_timeout)
