"""Restores that did not finish: the new database is marked while it is written, and removed if its
restore is gone.

A restore writes into a database it creates (db/backup/restore.py). Stopped midway it would stay
behind, possibly hundreds of megabytes nobody knows the name of. So:

- before CREATE DATABASE the restore takes a session advisory lock keyed on the new name, on its
  connection to the admin database, and holds it until it ends; the server releases the lock when that
  session ends, however the process died (kill -9 closes its socket);
- right after CREATE DATABASE, the database's comment marks it as an unfinished restore of the
  environment; a finished restore replaces the comment (the swap gives it the old database's, --into
  clears it), in the same transaction as the rename;
- on an error or SIGTERM the restore drops the database itself;
- the next restore or backup of the environment drops each marked database whose lock it can take,
  i.e. whose restore is gone, and says so.

Advisory locks belong to one database, so the lock is always taken and tested from the admin database.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from db.connection.connect import connect
from db.connection.urls import first_error_line
from db.errors import ConfigError, ConnectionFailed

ADMIN_DATABASE = "postgres"
MARK_PREFIX = "schemaflow: unfinished restore "
LOCK_CLASS = 0x5F5E  # the first key of every restore lock; the second is hashtext(database name)
TRY_LOCK_SQL = "SELECT pg_try_advisory_lock(%s, hashtext(%s))"
UNLOCK_SQL = "SELECT pg_advisory_unlock(%s, hashtext(%s))"
MARKED_SQL = """
SELECT d.datname, shobj_description(d.oid, 'pg_database')
FROM pg_database AS d
WHERE shobj_description(d.oid, 'pg_database') LIKE %s
ORDER BY d.datname
"""


@contextmanager
def restoring_into(conn: psycopg.Connection, name: str) -> Iterator[None]:
    """Hold `name`'s restore lock on `conn` (an admin-database session) for the block."""
    if not conn.execute(TRY_LOCK_SQL, (LOCK_CLASS, name)).fetchone()[0]:  # type: ignore[index]
        raise ConfigError(
            f"another schemaflow restore is writing database {name!r}",
            hint="wait for it to finish, or restore with another --into NAME",
        )
    try:
        yield
    finally:
        # A lost session has released the lock already; its error must not hide the block's own.
        with suppress(psycopg.Error):
            conn.execute(UNLOCK_SQL, (LOCK_CLASS, name))


def mark_unfinished(conn: psycopg.Connection, name: str, *, environment: str, target: str) -> None:
    """Comment `name` as an unfinished restore of `environment` (the database's owner may)."""
    mark = {
        "environment": environment,
        "target": target,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(MARK_PREFIX + json.dumps(mark))
        )
    )


def clear_mark(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(name)))


def remove_unfinished_restores(admin_url: str, environment: str, connect_timeout: int = 10) -> list[str]:
    """Drop the databases that dead restores of `environment` left; their names.

    A database whose restore still runs (its lock is held) is left alone.
    """
    removed = []
    with connect(admin_url, autocommit=True, connect_timeout=connect_timeout) as conn:
        for name, comment in conn.execute(MARKED_SQL, (MARK_PREFIX + "%",)).fetchall():
            if _mark_environment(comment) != environment:
                continue
            if not conn.execute(TRY_LOCK_SQL, (LOCK_CLASS, name)).fetchone()[0]:  # type: ignore[index]
                continue  # a live restore is writing it
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                removed.append(name)
            except psycopg.errors.InsufficientPrivilege:
                pass  # another role's restore: its owner (or a superuser) removes it on its next run
            finally:
                conn.execute(UNLOCK_SQL, (LOCK_CLASS, name))
    return removed


def try_remove_unfinished_restores(admin_url: str, environment: str, connect_timeout: int = 10) -> tuple[
    list[str], list[str]
]:  # fmt: skip
    """remove_unfinished_restores for a backup, which must not fail over it: (removed, warnings)."""
    try:
        return remove_unfinished_restores(admin_url, environment, connect_timeout), []
    except (psycopg.Error, ConnectionFailed) as exc:
        detail = first_error_line(exc)
        return [], [f"could not look for databases left by interrupted restores: {detail}"]


def _mark_environment(comment: str) -> str | None:
    try:
        return str(json.loads(comment[len(MARK_PREFIX) :])["environment"])
    except (ValueError, KeyError, TypeError):
        return None  # not ours after all: never dropped
