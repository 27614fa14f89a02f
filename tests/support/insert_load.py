"""A steady insert load into listener_events, the ingest path, timing every insert.

Used by tests/db/test_execute_load.py and benchmarks/bench_online_apply.py: one thread, its own
autocommit connection with no lock_timeout (an application waits as long as it has to: how long it
waited is what is measured), one row per tick at a fixed rate.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from dataclasses import dataclass, field

import psycopg

INSERT_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    event_type, position_seconds)
VALUES (now() - random() * interval '20 days', %s, %s, %s, %s, 'play', 0)
"""
EPISODES_SQL = "SELECT tenant_id, podcast_id, id FROM public.episodes ORDER BY id LIMIT 200"


@dataclass
class LoadReport:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def max_latency(self) -> float:
        return max(self.latencies, default=0.0)

    @property
    def p99_latency(self) -> float:
        if len(self.latencies) < 2:
            return self.max_latency
        return statistics.quantiles(self.latencies, n=100)[98]

    def summary(self) -> str:
        return (
            f"{len(self.latencies)} inserts in {self.seconds:.1f} s ({self.rate:.1f}/s), "
            f"{len(self.failures)} failed, p99 {self.p99_latency * 1000:.1f} ms, "
            f"max {self.max_latency * 1000:.1f} ms"
        )


class InsertLoad:
    """Start with `with InsertLoad(url, rate) as load:`; `load.report` after the block."""

    def __init__(self, url: str, rate: float = 25.0) -> None:
        self.url = url
        self.interval = 1.0 / rate
        self.report = LoadReport()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="insert-load", daemon=True)

    def __enter__(self) -> InsertLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        picker = random.Random(7)
        with psycopg.connect(self.url, autocommit=True, application_name="insert-load") as conn:
            episodes = conn.execute(EPISODES_SQL).fetchall()
            started = time.monotonic()
            tick = started
            while not self._stop.is_set():
                tenant, podcast, episode = picker.choice(episodes)
                clock = time.monotonic()
                try:
                    conn.execute(INSERT_SQL, (tenant, podcast, episode, f"load-{picker.randrange(1000)}"))
                    self.report.latencies.append(time.monotonic() - clock)
                except psycopg.Error as exc:
                    self.report.failures.append(str(exc).strip().splitlines()[0])
                tick += self.interval
                self._stop.wait(max(0.0, tick - time.monotonic()))
            self.report.seconds = time.monotonic() - started
