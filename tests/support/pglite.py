"""The TSL test lane: PGlite (PostgreSQL 17 + TimescaleDB TSL, WASM) served on a loopback port by Node."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

PGLITE_DIR = Path(__file__).resolve().parents[2] / "scripts" / "pglite"


def lane_unavailable_reason() -> str | None:
    """Why the lane cannot start here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed, so the PGlite TimescaleDB TSL lane cannot start"
    if not (PGLITE_DIR / "node_modules" / "@unni-craftsman" / "pglite").exists():
        return "scripts/pglite/node_modules is missing; run `make setup` (npm install) to enable the TSL lane"
    return None


class PgliteServer:
    """One Node process serving one in-memory PGlite database; a single database, so tests reset it."""

    def __init__(self, port: int, logfile: Path) -> None:
        self.port = port
        self.logfile = logfile
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        # PGlite answers SSL negotiation with garbage, so TLS must be off; any password is accepted.
        return f"postgresql://postgres:pglite@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def start(self, timeout: float = 90) -> None:
        log = self.logfile.open("w")
        self.proc = subprocess.Popen(
            ["node", str(PGLITE_DIR / "server.mjs"), str(self.port)],
            cwd=PGLITE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PGlite server exited: {self.logfile.read_text()[-2000:]}")
            if "READY" in self.logfile.read_text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"PGlite server not ready after {timeout}s: {self.logfile.read_text()[-2000:]}")

    def reset(self) -> None:
        """Drop everything the last test made: the public schema, schemaflow's schema, extensions."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET client_min_messages = warning")
            for schema in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                "AND nspname NOT IN ('information_schema', 'public') "
                "AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid "
                "WHERE d.objid = pg_namespace.oid AND d.deptype = 'e')"
            ).fetchall():
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema[0])))
            for ext in ("timescaledb", "pg_trgm", "uuid-ossp", "pgcrypto"):
                conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.Identifier(ext)))
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
            for role in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' AND rolname <> current_user"
            ).fetchall():
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role[0])))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
