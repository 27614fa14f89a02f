"""The region backfill of issue 22 and a writer inserting rows it must catch, for the tests and the benchmark.

listener_events is filled with generate_series (random uuid keys, the column's default, or
time-ordered ones, like a uuid v7) with region 'r3'; the one-off sets region 'r4' where it is 'r3'.
The writer inserts 'r3' rows on its own connection, every 20th write in a new chunk, and notes
when each insert returned, so a test can tell rows written before a moment from rows written after.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

REGION_BACKFILL = "20261207090000_backfill_region.sql"
REGION_SQL = """-- Region r3 was merged into r4.
-- schemaflow: batch {batch}
UPDATE public.listener_events SET region = 'r4' WHERE region = 'r3';
"""
MATCHING_SQL = "SELECT count(*) FROM public.listener_events WHERE region = 'r3'"
# Time-ordered keys: the row number in the uuid's last 12 hex digits, so a key's order is its age.
ORDERED_KEY = "('00000000-0000-4000-8000-' || lpad(to_hex({n}), 12, '0'))::uuid"
FILL_SQL = """
INSERT INTO public.listener_events (event_id, event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    event_type, position_seconds, duration_seconds, region)
SELECT {key}, now() - (g %% 720) * interval '1 hour', '00000000-0000-4000-8000-000000000001',
       '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003',
       'listener-' || (g %% 5000), 'play', 0, g %% 3600, 'r3'
FROM generate_series(1, %s) AS g
"""
# Every 20th row a day later than the one before: the writer creates chunks while the backfill runs.
WRITE_SQL = """
INSERT INTO public.listener_events (event_id, event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    event_type, position_seconds, region)
SELECT {key}, now() + (%(n)s / 20) * interval '1 day', '00000000-0000-4000-8000-000000000001',
       '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003', 'writer', 'play', 0,
       'r3'
FROM generate_series(1, %(rows)s) AS r
RETURNING event_id
"""
WRITER_KEY_BASE = 1 << 40  # the writer's ordered keys sort after every filled row's


def fill_events(url: str, rows: int, *, ordered: bool) -> None:
    """listener_events emptied and filled with `rows` 'r3' rows, analyzed."""
    key = ORDERED_KEY.format(n="g") if ordered else "gen_random_uuid()"
    clock = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE public.listener_events")
        conn.execute(FILL_SQL.format(key=key), (rows,))  # type: ignore[arg-type]  # our constant
        conn.execute("ANALYZE public.listener_events")
    kind = "time-ordered" if ordered else "random"
    print(f"\nfilled {rows} events ({kind} keys) in {time.monotonic() - clock:.1f} s")


def region_folder(root: Path, batch: int) -> Path:
    """A migrations folder holding the region one-off alone (no master file: the tests run the one-offs)."""
    folder = root / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REGION_BACKFILL).write_text(REGION_SQL.format(batch=batch), encoding="utf-8")
    return folder


def count_matching(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(MATCHING_SQL).fetchone()
    return int(row[0]) if row else 0


@dataclass
class Written:
    key: str
    returned_at: float  # time.monotonic() when the insert's commit returned


@dataclass
class MatchingWriter:
    """`with MatchingWriter(url, every=0.05):` inserts `rows` 'r3' rows each `every` seconds.

    `replica` writes with session_replication_role = replica, as logical replication's apply does:
    no ordinary trigger fires on its rows."""

    url: str
    every: float = 0.05
    rows: int = 1
    ordered: bool = False
    replica: bool = False
    written: list[Written] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="matching-writer", daemon=True)

    def __enter__(self) -> MatchingWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def keys_before(self, moment: float) -> list[str]:
        return [w.key for w in self.written if w.returned_at < moment]

    def _run(self) -> None:
        n = 0
        with psycopg.connect(self.url, autocommit=True, application_name="matching-writer") as conn:
            if self.replica:
                conn.execute("SET session_replication_role = replica")
            while not self._stop.is_set():
                key = (
                    ORDERED_KEY.format(n=f"{WRITER_KEY_BASE + n * self.rows} + r")
                    if self.ordered
                    else "gen_random_uuid()"
                )
                clock = time.monotonic()
                try:
                    keys = conn.execute(WRITE_SQL.format(key=key), {"n": n, "rows": self.rows}).fetchall()  # type: ignore[arg-type]
                    done = time.monotonic()
                    self.waits.append(done - clock)
                    self.written += [Written(str(k[0]), done) for k in keys]
                except psycopg.Error as exc:
                    self.failures.append(str(exc).strip().splitlines()[0])
                n += 1
                self._stop.wait(max(0.0, clock + self.every - time.monotonic()))


def still_matching(url: str, keys: list[str], region: str = "r3") -> int:
    """How many of `keys` are rows that still match the backfill's WHERE (or have another `region`)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM public.listener_events WHERE region = %s AND event_id = ANY(%s::uuid[])",
            (region, keys),
        ).fetchone()
    return int(row[0]) if row else 0
