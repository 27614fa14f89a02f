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
RESET_SQL = Path(__file__).with_name("pglite_reset.sql")
_USER_SCHEMAS = (
    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
    "AND nspname NOT LIKE '\\_timescaledb%' "
    "AND nspname NOT IN ('information_schema', 'public', "
    "'timescaledb_information', 'timescaledb_experimental') "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass "
    "AND d.objid = pg_namespace.oid AND d.deptype = 'e')"
)
_USER_ROLES = "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' AND rolname <> current_user"


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
        """Drop what the last test made (schemas, public objects, roles); keep the extensions loaded."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET client_min_messages = warning")
            for (schema,) in conn.execute(_USER_SCHEMAS).fetchall():
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(RESET_SQL.read_text())
            for (role,) in conn.execute(_USER_ROLES).fetchall():
                conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            # One backend serves every connection, so settings made by a test leak into the next one.
            # Not RESET ALL: PGlite starts with search_path=pg_catalog on its command line, so RESET
            # would hide public; put each session-set parameter back to its built-in value instead.
            conn.execute(
                "SELECT set_config(name, coalesce(boot_val, ''), false) FROM pg_settings "
                "WHERE source = 'session' AND name <> 'client_min_messages'"
            )
            conn.execute("SET client_min_messages = notice")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
