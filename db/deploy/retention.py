"""Data retention: the windows the master file declares, what lies outside them, and removing it.

The master file declares one window per event table in `public.retention_windows()`. In tsl mode
TimescaleDB's retention policy enforces it; everywhere `enforce_retention` does the same work on
demand (`schemaflow enforce-retention`, the enforce-retention deployments):

- a hypertable loses the whole chunks that end before `now() - window`, one chunk per short
  transaction under the environment's lock_timeout, so an insert into the current chunk never waits
  behind a long lock (a chunk still holding a newer row is kept until it is all outside);
- a plain table loses its rows older than the cutoff in bounded batches, each its own transaction.

A dry run reads the catalog (and, on plain tables, counts the rows) and changes nothing. A real run
records itself in `schemaflow.retention_runs`, which the health checks read.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from db.errors import CheckFailed
from db.schema.retention import DECLARED_SQL, TIME_COLUMN

DEFAULT_BATCH_ROWS = 10_000
# A chunk that stays locked (a long report reading it) is tried this often, then left for the next run.
LOCK_ATTEMPTS = 3
# How often the enforce-retention deployments run, and how late a run may be before health says so.
SCHEDULE_INTERVAL = "1 day"
SCHEDULE_LAG = "1 hour"
RUNS_DDL = (Path(__file__).resolve().parents[1] / "sql" / "retention_runs.sql").read_text(encoding="utf-8")

WINDOWS_SQL = """
SELECT w.table_name, w.keep_for::text, now() - w.keep_for AS cutoff, to_regclass(w.table_name) IS NOT NULL
FROM public.retention_windows() w
ORDER BY 1
"""
HAS_CHUNKS_CATALOG_SQL = "SELECT to_regclass('timescaledb_information.chunks') IS NOT NULL"
IS_HYPERTABLE_SQL = """
SELECT 1 FROM timescaledb_information.hypertables
WHERE format('%%I.%%I', hypertable_schema, hypertable_name)::regclass = %s::regclass
"""
# reltuples: the planner's estimate (-1: never analyzed); no chunk is scanned.
EXPIRED_CHUNKS_SQL = """
SELECT format('%%I.%%I', c.chunk_schema, c.chunk_name), c.range_start, c.range_end, cl.reltuples::bigint
FROM timescaledb_information.chunks c
JOIN pg_class cl ON cl.oid = format('%%I.%%I', c.chunk_schema, c.chunk_name)::regclass
WHERE format('%%I.%%I', c.hypertable_schema, c.hypertable_name)::regclass = %(table)s::regclass
  AND c.range_end <= %(cutoff)s
ORDER BY c.range_start
"""
# older_than/newer_than bracket exactly one chunk's range: drop_chunks takes that chunk and no other.
DROP_CHUNK_SQL = (
    "SELECT drop_chunks(%(table)s::regclass, older_than => %(end)s::timestamptz, "
    "newer_than => %(start)s::timestamptz)"
)
SET_LOCK_TIMEOUT_SQL = "SELECT set_config('lock_timeout', %s, true)"
COUNT_OLD_ROWS = "SELECT count(*) FROM {table} WHERE {column} < %(cutoff)s"
# ctid batches: row locks only (ROW EXCLUSIVE on the table), so inserts never wait on a batch.
DELETE_BATCH = (
    "DELETE FROM {table} WHERE ctid = ANY (ARRAY("
    "SELECT ctid FROM {table} WHERE {column} < %(cutoff)s LIMIT %(batch)s))"
)
RECORD_RUN_SQL = """
INSERT INTO schemaflow.retention_runs
    (environment, table_name, keep_for, cutoff, chunks_dropped, chunks_left, rows_removed,
     started_at, finished_at)
VALUES (%(environment)s, %(table)s, %(keep_for)s::interval, %(cutoff)s, %(chunks_dropped)s,
        %(chunks_left)s, %(rows_removed)s, %(started_at)s, now())
"""


@dataclass
class ExpiredChunk:
    """A chunk wholly older than the cutoff: what drop_chunks removes."""

    name: str
    range_start: datetime
    range_end: datetime
    estimated_rows: int  # -1: never analyzed
    dropped: bool = False


@dataclass
class TableRetention:
    """One table's window and what enforcing it removes (or would remove, in a dry run)."""

    table: str
    keep_for: str
    cutoff: datetime
    method: str  # drop_chunks | batched_delete | missing
    chunks: list[ExpiredChunk] = field(default_factory=list)
    rows: int = 0  # plain: rows older than the cutoff (dry run) or deleted; hypertable: estimate
    chunks_left: int = 0  # busy chunks left for the next run (their lock did not come in time)
    rows_left_locked: bool = False  # plain: a batch's lock did not come in time; the rest waits

    @property
    def left_for_next_run(self) -> int:
        """Chunks, or (plain) 1 for the rows, that this run could not remove for a writer's lock."""
        return self.chunks_left + int(self.rows_left_locked)

    @property
    def chunks_dropped(self) -> int:
        return sum(1 for c in self.chunks if c.dropped)


@dataclass
class RetentionRun:
    """What one enforce-retention run did, per table."""

    environment: str
    dry_run: bool
    tables: list[TableRetention]
    started_at: datetime | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def declared_windows(
    conn: psycopg.Connection, environment: str = "ENV"
) -> list[tuple[str, str, datetime, bool]]:
    """(table, window, cutoff, table exists) per declared window; CheckFailed when none are declared."""
    row = conn.execute(DECLARED_SQL).fetchone()
    if not row or not row[0]:
        raise CheckFailed(
            "this database declares no retention windows (public.retention_windows() is missing)",
            hint=f"run `schemaflow migrate --env {environment}` first: the master file declares them",
        )
    return [tuple(r) for r in conn.execute(WINDOWS_SQL).fetchall()]  # type: ignore[misc]


def enforce_retention(
    conn: psycopg.Connection,
    *,
    environment: str = "ENV",
    dry_run: bool = False,
    lock_timeout: str = "1s",
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> RetentionRun:
    """Remove (or, dry, list) what lies outside each declared window. `conn` must be in autocommit."""
    clock = time.monotonic()
    started = conn.execute("SELECT now()").fetchone()
    run = RetentionRun(environment, dry_run, [], started_at=started[0] if started else None)
    chunks_catalog = bool((conn.execute(HAS_CHUNKS_CATALOG_SQL).fetchone() or (False,))[0])
    for table, keep_for, cutoff, exists in declared_windows(conn, environment):
        if not exists:
            run.tables.append(TableRetention(table, keep_for, cutoff, "missing"))
            continue
        if chunks_catalog and conn.execute(IS_HYPERTABLE_SQL, (table,)).fetchone():
            found = _drop_expired_chunks(conn, table, keep_for, cutoff, dry_run, lock_timeout)
        else:
            found = _delete_old_rows(conn, table, keep_for, cutoff, dry_run, batch_rows, lock_timeout)
        run.tables.append(found)
        if not dry_run:
            _record(conn, environment, found, run.started_at)
    run.seconds = round(time.monotonic() - clock, 3)
    return run


def expired_chunks(conn: psycopg.Connection, table: str, cutoff: datetime) -> list[ExpiredChunk]:
    """The chunks of `table` that end at or before `cutoff`, oldest first (catalog only)."""
    rows = conn.execute(EXPIRED_CHUNKS_SQL, {"table": table, "cutoff": cutoff}).fetchall()
    return [ExpiredChunk(name, start, end, int(rows_)) for name, start, end, rows_ in rows]


def _drop_expired_chunks(
    conn: psycopg.Connection, table: str, keep_for: str, cutoff: datetime, dry_run: bool, lock_timeout: str
) -> TableRetention:
    found = TableRetention(table, keep_for, cutoff, "drop_chunks", chunks=expired_chunks(conn, table, cutoff))
    found.rows = sum(max(c.estimated_rows, 0) for c in found.chunks)
    if dry_run:
        return found
    for chunk in found.chunks:
        chunk.dropped = _drop_one(conn, table, chunk, lock_timeout)
    found.chunks_left = sum(1 for c in found.chunks if not c.dropped)
    return found


def _drop_one(conn: psycopg.Connection, table: str, chunk: ExpiredChunk, lock_timeout: str) -> bool:
    params = {"table": table, "start": chunk.range_start, "end": chunk.range_end}
    for attempt in range(LOCK_ATTEMPTS):
        try:
            with conn.transaction():
                conn.execute(SET_LOCK_TIMEOUT_SQL, (lock_timeout,))
                conn.execute(DROP_CHUNK_SQL, params)
            return True
        except psycopg.errors.LockNotAvailable:
            time.sleep(0.2 * (attempt + 1))
    return False


def _delete_old_rows(
    conn: psycopg.Connection,
    table: str,
    keep_for: str,
    cutoff: datetime,
    dry_run: bool,
    batch_rows: int,
    lock_timeout: str,
) -> TableRetention:
    found = TableRetention(table, keep_for, cutoff, "batched_delete")
    schema, name = table.split(".", 1)
    names = {"table": sql.Identifier(schema, name), "column": sql.Identifier(TIME_COLUMN)}
    if dry_run:
        row = conn.execute(sql.SQL(COUNT_OLD_ROWS).format(**names), {"cutoff": cutoff}).fetchone()
        found.rows = int(row[0]) if row else 0
        return found
    delete = sql.SQL(DELETE_BATCH).format(**names)
    while True:
        deleted = _delete_batch(conn, delete, cutoff, batch_rows, lock_timeout)
        if deleted is None:  # the batches before it committed and are counted; the rest waits
            found.rows_left_locked = True
            return found
        found.rows += deleted
        if deleted < batch_rows:
            return found


def _delete_batch(
    conn: psycopg.Connection, delete: sql.Composed, cutoff: datetime, batch_rows: int, lock_timeout: str
) -> int | None:
    """Rows one batch deleted; None when its lock did not come within lock_timeout, LOCK_ATTEMPTS times."""
    for attempt in range(LOCK_ATTEMPTS):
        try:
            with conn.transaction():
                conn.execute(SET_LOCK_TIMEOUT_SQL, (lock_timeout,))  # behind a DDL lock: fail, never queue
                return int(conn.execute(delete, {"cutoff": cutoff, "batch": batch_rows}).rowcount)
        except psycopg.errors.LockNotAvailable:
            time.sleep(0.2 * (attempt + 1))
    return None


def _record(
    conn: psycopg.Connection, environment: str, found: TableRetention, started: datetime | None
) -> None:
    with conn.transaction():
        conn.execute(RUNS_DDL)
        conn.execute(
            RECORD_RUN_SQL,
            {
                "environment": environment,
                "table": found.table,
                "keep_for": found.keep_for,
                "cutoff": found.cutoff,
                "chunks_dropped": found.chunks_dropped,
                "chunks_left": found.chunks_left,
                "rows_removed": found.rows,
                "started_at": started,
            },
        )
