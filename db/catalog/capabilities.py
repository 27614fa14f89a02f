"""What a server can do: PostgreSQL version and whether TimescaleDB is available, loaded, and licensed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psycopg

CAPABILITIES_SQL = """
SELECT current_setting('server_version_num')::int AS server_version_num,
       current_setting('server_version') AS server_version,
       (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb') AS available_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS installed_version,
       -- pg_settings, not current_setting(): the latter raises for roles that are not superusers.
       (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,
       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload_visible,
       current_setting('timescaledb.license', true) AS license,
       pg_is_in_recovery() AS in_recovery,
       version() LIKE '%%Emscripten%%' AS loads_on_create
"""


@dataclass(frozen=True)
class Capabilities:
    """The server's facts and the schema mode they allow: 'tsl', 'apache' or 'plain'."""

    server_version_num: int
    server_version: str
    timescaledb_available: str | None
    timescaledb_installed: str | None
    timescaledb_preloaded: bool
    timescaledb_license: str | None
    in_recovery: bool
    # False when the role may not read shared_preload_libraries (no pg_read_all_settings) and no
    # loaded library says otherwise: timescaledb_preloaded is then a guess, not a fact.
    preload_known: bool = True

    @property
    def mode(self) -> str:
        """The mode the master file applies (or applied) here."""
        if not self.timescaledb_installed:
            return "plain"
        return "tsl" if self.timescaledb_license == "timescale" else "apache"

    def as_dict(self) -> dict:
        return {**asdict(self), "mode": self.mode}


def detect_capabilities(conn: psycopg.Connection) -> Capabilities:
    """Read the server's version and TimescaleDB state in one query."""
    row = conn.execute(CAPABILITIES_SQL).fetchone()
    assert row is not None
    version_num, version, available, installed, preload, visible, license_, in_recovery, loads_on_create = row
    # A loaded library defines the license setting. PGlite (PostgreSQL compiled to WASM with
    # Emscripten) has no preload step and loads TimescaleDB on CREATE EXTENSION, which a native
    # server without the preload answers with FATAL, so it must never be tried there.
    preloaded = "timescaledb" in (preload or "") or bool(license_) or bool(loads_on_create)
    return Capabilities(
        server_version_num=version_num,
        server_version=version,
        timescaledb_available=available,
        timescaledb_installed=installed,
        timescaledb_preloaded=preloaded,
        timescaledb_license=license_ or None,
        in_recovery=bool(in_recovery),
        preload_known=bool(visible) or preloaded,
    )
