"""Running the master file from a test the way migrate does: statement by statement, one transaction.

Not as one query string: the TSL lane's socket server (@electric-sql/pglite-socket) hands each TCP
read to PGlite as it comes, so a query message longer than one read (the file is past 64 KiB)
reaches PGlite cut in two and the WASM backend aborts ("RuntimeError: unreachable").
"""

from __future__ import annotations

import psycopg

from db.schema.master_file import read_schema
from db.schema.statements import split_file


def execute_master_file(conn: psycopg.Connection, text: str | None = None) -> None:
    """Each statement of `text` (default: the master file) in `conn`'s current transaction."""
    for statement in split_file(text if text is not None else read_schema()):
        conn.execute(statement.text)  # type: ignore[arg-type]  # the trusted master file
