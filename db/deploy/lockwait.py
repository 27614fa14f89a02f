"""How long a session waits for locks, sampled from pg_stat_activity by a second connection.

A statement's duration mixes waiting for its lock with doing its work; only the server knows which
is which. Every SAMPLE_SECONDS a sampler thread reads the executing session's wait_event_type and
counts the interval as lock wait when it is 'Lock' (a relation lock, or the virtualxid waits of
CREATE INDEX CONCURRENTLY for older transactions). The figure is honest to one sampling interval:
a wait shorter than that may be missed, and each counted sample stands for one whole interval.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from db.connection.connect import connect

SAMPLE_SECONDS = 0.01
WAIT_EVENT_SQL = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"


class LockWaitSampler:
    """Attributes sampled lock waits of one backend to whichever step is `current`."""

    def __init__(self, url: str, pid: int, connect_timeout: int = 10) -> None:
        self.url = url
        self.pid = pid
        self.connect_timeout = connect_timeout
        self.current: int | None = None  # the step number running now; None between steps
        self.waited: dict[int, float] = defaultdict(float)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seconds(self, step: int) -> float:
        return round(self.waited.get(step, 0.0), 3)

    def _run(self, conn: psycopg.Connection) -> None:
        last = time.monotonic()
        while not self._stop.wait(SAMPLE_SECONDS):
            now = time.monotonic()
            step = self.current
            try:
                row = conn.execute(WAIT_EVENT_SQL, (self.pid,)).fetchone()
            except psycopg.Error:
                return  # the sampler is a measurement; losing it must not fail the deploy
            if step is not None and row and row[0] == "Lock":
                self.waited[step] += now - last
            last = now

    @contextmanager
    def running(self) -> Iterator[LockWaitSampler]:
        conn = connect(
            self.url,
            autocommit=True,
            connect_timeout=self.connect_timeout,
            application_name="schemaflow-lock-sampler",
        )
        self._thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=5)
            conn.close()
