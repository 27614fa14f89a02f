"""Where the expected side is built: one scratch database, created once and reused, never dropped.

A database created and dropped per command cost the target server a forced checkpoint each time
(DROP DATABASE requests CHECKPOINT IMMEDIATE FORCE WAIT) in the middle of its ingest. The file is
applied to the scratch database in a transaction that is rolled back, so it stays empty between runs
and a steady-state plan, drift or migrate creates and drops no database at all.

The scratch database is, first match wins: --scratch-url; the environment's `scratch_url` (a full
URL, or a bare database name on the target's server reached with the target's credentials);
else `schemaflow_scratch` on the target's server, created on first use when the role may.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from db.catalog.capabilities import Capabilities
from db.connection.urls import mask_url, validate_url, with_database
from db.errors import ConfigError

SCRATCH_DATABASE = "schemaflow_scratch"
THROWAWAY_PREFIX = "schemaflow_drift_"
# Whether the role may build in it: only its owner (or a member of the owner) may create the file's
# schemas and trusted extensions there.
_USABLE_SQL = "SELECT pg_has_role(current_user, datdba, 'USAGE') FROM pg_database WHERE datname = %s"
# Schemas that only the file's own objects can have left behind (a build is always rolled back, so
# only a person or a crash of the server mid-build can): anything but the system's and the ones
# holding an extension's members, which belong to whoever created the extension.
_LEFTOVER_SCHEMAS_SQL = """
SELECT n.nspname FROM pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND n.nspname NOT LIKE '\\_timescaledb%' AND n.nspname NOT LIKE 'timescaledb\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
                  WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relnamespace = n.oid)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
                  WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e' AND p.pronamespace = n.oid)
  AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid)
"""


@dataclass(frozen=True)
class ScratchSite:
    """The scratch database's URL, and whether schemaflow owns it by name (may create and reset it)."""

    url: str
    managed: bool

    @property
    def database(self) -> str:
        return str(validate_url(self.url)["database"])


def scratch_site(target_url: str, setting: str | None) -> ScratchSite:
    """The scratch database for `target_url`: `setting` (a URL or a database name), else the default."""
    text = (setting or "").strip()
    if not text:
        return ScratchSite(with_database(target_url, SCRATCH_DATABASE), managed=True)
    if "://" in text or "=" in text:
        return ScratchSite(text, managed=False)
    return ScratchSite(with_database(target_url, text), managed=text == SCRATCH_DATABASE)


def same_server(a: str, b: str) -> bool:
    left, right = validate_url(a), validate_url(b)
    return (left["host"], left["port"]) == (right["host"], right["port"])


def ensure_scratch_database(target: psycopg.Connection, site: ScratchSite, role: str) -> ScratchSite:
    """Create the default scratch database on the target's server the first time; never drop it.

    Another role's schemaflow_scratch is no use to this one (it may not create in it): the role
    gets one of its own, schemaflow_scratch_<role>, made once the same way.
    """
    row = target.execute(_USABLE_SQL, (site.database,)).fetchone()
    if row and not row[0] and site.managed and site.database == SCRATCH_DATABASE:
        own = ScratchSite(with_database(site.url, f"{SCRATCH_DATABASE}_{role}"[:63]), managed=True)
        row = target.execute(_USABLE_SQL, (own.database,)).fetchone()
        site = own
    if row:
        return site
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(site.database))
    if not site.managed:
        raise ConfigError(
            f"the scratch database {site.database!r} does not exist on the target's server",
            hint=f"an admin creates it once: CREATE DATABASE {site.database} OWNER {role}; "
            "or point scratch_url (environments.toml) / --scratch-url at an existing empty database",
        )
    try:
        target.execute(statement)
    except psycopg.errors.DuplicateDatabase:
        pass  # another run created it a moment ago
    except psycopg.errors.InsufficientPrivilege:
        raise ConfigError(
            f"the role {role} may not create the scratch database {site.database!r} (it lacks CREATEDB)",
            hint=f"an admin creates it once: CREATE DATABASE {site.database} OWNER {role}; or set "
            "scratch_url in environments.toml (or pass --scratch-url) to an empty database the role owns",
        ) from None
    return site


def reset_scratch(conn: psycopg.Connection) -> list[str]:
    """Drop what a person or an interrupted build left in schemaflow's own scratch database."""
    schemas = [row[0] for row in conn.execute(_LEFTOVER_SCHEMAS_SQL).fetchall()]
    for name in schemas:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    if "public" in schemas:
        conn.execute("CREATE SCHEMA public")
    return schemas


def mismatches(scratch: Capabilities, target: Capabilities) -> list[str]:
    """What differs between the scratch server and the target's that decides the file's mode."""
    out = []
    if scratch.server_version_num // 10000 != target.server_version_num // 10000:
        out.append(f"PostgreSQL {scratch.server_version} (scratch) against {target.server_version} (target)")
    wanted = target.timescaledb_installed
    if wanted and scratch.timescaledb_available is None:
        out.append(f"TimescaleDB is not available on the scratch server; the target runs {wanted}")
    elif not wanted and scratch.timescaledb_available != target.timescaledb_available:
        out.append(
            f"TimescaleDB {scratch.timescaledb_available or 'absent'} (scratch) against "
            f"{target.timescaledb_available or 'absent'} (target)"
        )
    known = scratch.preload_known and target.preload_known
    if known and scratch.timescaledb_preloaded != target.timescaledb_preloaded:
        loaded = {True: "preloaded", False: "not preloaded"}
        out.append(
            f"TimescaleDB {loaded[scratch.timescaledb_preloaded]} (scratch) against "
            f"{loaded[target.timescaledb_preloaded]} (target)"
        )
    licenses = (scratch.timescaledb_license, target.timescaledb_license)
    if all(licenses) and licenses[0] != licenses[1]:
        out.append(f"TimescaleDB license {licenses[0]} (scratch) against {licenses[1]} (target)")
    return out


def refuse_mismatch(url: str, found: list[str]) -> ConfigError:
    return ConfigError(
        f"the scratch database {mask_url(url)} cannot build the target's schema mode: {'; '.join(found)}",
        hint="use a scratch database on a server with the same PostgreSQL major version, TimescaleDB "
        "version and license as the target (or on the target's server)",
    )


@contextmanager
def throwaway_database(conn: psycopg.Connection, url: str) -> Iterator[str]:
    """A database created beside the target and dropped afterwards, for a rehearsal that commits.

    Only a first deploy with one-offs needs one (db/versions/baseline.py): plans and drift never do.
    """
    name = f"{THROWAWAY_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        raise ConfigError(
            "the role may not create the database the one-offs are rehearsed in (it lacks CREATEDB)",
            hint="grant CREATEDB to the role for the first deploy, or run it once with a role that has it",
        ) from None
    try:
        yield with_database(url, name)
    finally:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
