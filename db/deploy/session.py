"""The apply session: what it asks of the server, and which errors are retried after what pause.

Every writer (the whole-file apply, the plan executor, one-offs and their backfills, rollbacks)
opens its session through `prepare_session` and retries RETRYABLE_ERRORS with `backoff_seconds`,
so a lock timeout means the same thing whichever path hit it.
"""

from __future__ import annotations

import random

import psycopg
from psycopg import errors as pg_errors

# Errors where rolling back and trying the whole transaction again can succeed.
RETRYABLE_ERRORS: tuple[type[psycopg.Error], ...] = (
    pg_errors.LockNotAvailable,  # 55P03: lock_timeout expired
    pg_errors.DeadlockDetected,  # 40P01
    pg_errors.SerializationFailure,  # 40001
)
# GitLab-style backoff: short first sleep, doubling, capped so a retry loop never hides a stuck deploy.
BACKOFF_FIRST_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0
# Set on the apply session (PostgreSQL 14+ for the first). The server polls the client socket every
# second while a statement runs and ends the statement, its transaction and its session (with the
# migration lock) when the client is gone; without it only statement_timeout bounds an orphan. The
# keepalives make the kernel notice a client host that vanished without closing its socket.
SESSION_SETTINGS: tuple[tuple[str, str, int], ...] = (
    # (setting, value, minimum server_version_num)
    ("client_connection_check_interval", "1s", 140000),
    ("tcp_keepalives_idle", "10", 0),
    ("tcp_keepalives_interval", "5", 0),
    ("tcp_keepalives_count", "3", 0),
)
SET_SESSION_SQL = "SELECT set_config(%s, %s, false)"


def prepare_session(conn: psycopg.Connection) -> None:
    """Apply SESSION_SETTINGS that this server knows (client_connection_check_interval needs 14+)."""
    version = conn.info.server_version
    for name, value, minimum in SESSION_SETTINGS:
        if version >= minimum:
            conn.execute(SET_SESSION_SQL, (name, value))


# The plan executor's session only: a function's body is checked against the objects it names when it is
# created, but a plan creates objects in dependency order, and pg_depend does not record what a
# LANGUAGE sql/plpgsql body calls. As pg_dump does, bodies are not checked at creation; the file itself
# is checked (with bodies) when the expected side is built from it.
PLAN_SESSION_SETTINGS: tuple[tuple[str, str], ...] = (("check_function_bodies", "off"),)


def prepare_plan_session(conn: psycopg.Connection) -> None:
    """prepare_session, plus what running a plan's steps out of the file's order needs."""
    prepare_session(conn)
    for name, value in PLAN_SESSION_SETTINGS:
        conn.execute(SET_SESSION_SQL, (name, value))


def backoff_seconds(attempt: int) -> float:
    """Sleep before retry `attempt`+1: doubling from 0.2 s with jitter, capped at 5 s."""
    base = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (attempt - 1))
    return round(base * random.uniform(0.8, 1.2), 3)
