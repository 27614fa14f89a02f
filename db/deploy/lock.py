"""The migration advisory lock: one migration per database at a time, and who holds it when busy.

A session-level advisory lock (not a transaction-level one) so it also covers the steps apply runs
after its commit. It needs a real session: behind a transaction-pooling PgBouncer it would not hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg

from db.errors import MigrationLocked

# "SFMG" in ASCII. Below 2**31, so pg_locks shows it as classid 0, objid KEY, objsubid 1.
MIGRATION_LOCK_KEY = 0x53464D47

TRY_LOCK_SQL = "SELECT pg_try_advisory_lock(%s)"
UNLOCK_SQL = "SELECT pg_advisory_unlock(%s)"
# Advisory locks are per database: pg_locks.database says which one.
LOCK_HOLDER_SQL = """
SELECT a.pid, a.application_name, a.usename::text, a.client_addr::text,
       a.backend_start, a.query_start, a.state
FROM pg_locks AS l
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = (%(key)s::bigint >> 32)::oid
  AND l.objid = (%(key)s::bigint & 4294967295)::oid
  AND l.objsubid = 1
ORDER BY a.backend_start
LIMIT 1
"""


@dataclass(frozen=True)
class LockHolder:
    """The session that holds the migration lock, as pg_stat_activity describes it."""

    pid: int
    application_name: str
    usename: str
    client_addr: str | None
    backend_start: datetime | None
    query_start: datetime | None
    state: str | None

    def __str__(self) -> str:
        where = f"from {self.client_addr}" if self.client_addr else "over a local socket"
        app = self.application_name or "unnamed application"
        since = f", connected since {self.backend_start:%Y-%m-%d %H:%M:%S %Z}" if self.backend_start else ""
        return f"pid {self.pid} ({app}, user {self.usename} {where}{since})"


def try_acquire_migration_lock(conn: psycopg.Connection) -> bool:
    """Take the migration lock for this session without waiting; True when we got it."""
    row = conn.execute(TRY_LOCK_SQL, (MIGRATION_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def release_migration_lock(conn: psycopg.Connection) -> None:
    """Release the lock taken by this session (closing the session releases it too)."""
    conn.execute(UNLOCK_SQL, (MIGRATION_LOCK_KEY,))


def describe_lock_holder(conn: psycopg.Connection) -> LockHolder | None:
    """Who holds the migration lock in this database, or None when it is free."""
    row = conn.execute(LOCK_HOLDER_SQL, {"key": MIGRATION_LOCK_KEY}).fetchone()
    return LockHolder(*row) if row else None


@contextmanager
def hold_migration_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the lock for the block; raise MigrationLocked naming the holder when another run has it.

    `conn` should be in autocommit mode (or the lock query opens a transaction you must end).
    """
    if not try_acquire_migration_lock(conn):
        holder = describe_lock_holder(conn)
        who = str(holder) if holder else "a session that has just ended"
        raise MigrationLocked(
            f"another migration is running on this database: {who}",
            hint="wait for it to finish; if it is stuck, end it with SELECT pg_terminate_backend(pid)",
        )
    try:
        yield
    finally:
        release_or_close(conn)


def release_or_close(conn: psycopg.Connection) -> None:
    """Release the lock, or end the session when it cannot take a command; never raise.

    A session with a command still in progress (an exception raised while psycopg waited for a
    result) answers any new command with "another command is already in progress"; that error must
    not replace the one that ended the block, nor look like a transient failure worth a retry.
    Ending the session releases a session-level advisory lock just as well.
    """
    if conn.closed:
        return
    try:
        status = conn.info.transaction_status
        if status == psycopg.pq.TransactionStatus.ACTIVE:
            conn.cancel_safe(timeout=5)
            conn.close()
            return
        if status in (psycopg.pq.TransactionStatus.INERROR, psycopg.pq.TransactionStatus.INTRANS):
            conn.rollback()
        release_migration_lock(conn)
    except (psycopg.Error, OSError):
        conn.close()
