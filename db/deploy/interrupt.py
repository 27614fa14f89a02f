"""SIGTERM during apply: cancel the server's statement, roll back, release the lock, stop; never retry.

Prefect's flow engine turns SIGTERM into an exception raised wherever the main thread happens to be,
which can be inside psycopg's wait for a statement's result. The connection is then left with a
command in progress, so releasing the migration lock fails ("another command is already in
progress"); that OperationalError looked transient, Prefect retried, and the retry found the first
attempt's still-running session holding the lock. While apply runs, this module's handler takes
SIGTERM instead: it asks the server to cancel the running statement (a separate cancel connection,
so the apply connection stays consistent) and sets a flag that apply checks between statements.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import psycopg

from db.errors import ApplyInterrupted

CANCEL_TIMEOUT_SECONDS = 5.0


@dataclass
class Interruption:
    """Set by the handler; apply reads it between statements and after a cancelled one."""

    signal_name: str = ""

    @property
    def requested(self) -> bool:
        return bool(self.signal_name)

    def raise_if_requested(self, committed: bool = False) -> None:
        if self.requested:
            raise interrupted_error(self.signal_name, committed=committed)


def interrupted_error(signal_name: str, *, committed: bool = False) -> ApplyInterrupted:
    """The one message a person sees after SIGTERM, saying what state the database is in."""
    if committed:
        return ApplyInterrupted(
            f"stopped by {signal_name} after the schema change was committed; "
            "the post-commit step running then was cancelled",
            hint="run migrate again to finish the post-commit steps (the master file is idempotent)",
        )
    return ApplyInterrupted(
        f"stopped by {signal_name}: the running statement was cancelled and the transaction rolled "
        "back; nothing was changed and the migration lock was released",
        hint="run migrate again when ready; it was not retried automatically",
    )


@contextmanager
def cancel_on_sigterm(conn: psycopg.Connection) -> Iterator[Interruption]:
    """While the block runs, SIGTERM cancels `conn`'s running statement and marks the interruption.

    Signal handlers can only be installed from the main thread; elsewhere the block runs without one
    (the session's client_connection_check_interval still ends the server's work if the process dies).
    """
    state = Interruption()

    def handler(signum: int, frame: FrameType | None) -> None:
        state.signal_name = signal.Signals(signum).name
        # From a thread: the cancel opens its own connection and may take a moment; the handler
        # must return at once so psycopg keeps reading the (now cancelled) statement's result.
        threading.Thread(target=_cancel, args=(conn,), name="schemaflow-cancel", daemon=True).start()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cancel(conn: psycopg.Connection) -> None:
    # The server may be gone already; the session then ends with the connection.
    with contextlib.suppress(psycopg.Error, OSError):
        conn.cancel_safe(timeout=CANCEL_TIMEOUT_SECONDS)
