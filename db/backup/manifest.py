"""Where a backup came from: a JSON manifest inside each backup, and the checks restore makes with it.

The manifest is written into the dump directory before it is renamed to its final name, so a backup
and its label appear (and are pruned, copied, moved) together. pg_restore reads only the files that
toc.dat names and ignores it. It holds no password: the host is recorded as host:port only.

Restore refuses, unless told explicitly:
- an archive with no tables (restoring it in place would replace every row with nothing);
- an archive without a manifest (taken by an older schemaflow, or by hand): nobody can prove its origin;
- an archive of another environment, another database, or another server (pg_control_system()'s
  system identifier differs: a copy of production's cluster is not production).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from pydantic import BaseModel, ValidationError

from db.catalog.snapshot import snapshot_catalog
from db.errors import CheckFailed
from db.plan.model import snapshot_checksum

MANIFEST_NAME = "schemaflow-manifest.json"
MANIFEST_VERSION = 1
FOREIGN_FLAG = "--allow-foreign-archive"
EMPTY_FLAG = "--allow-empty-archive"
# pg_control_system() is restricted to superusers and pg_monitor members by default.
SYSTEM_IDENTIFIER_SQL = "SELECT system_identifier::text FROM pg_control_system()"


class BackupManifest(BaseModel):
    """What a backup is a copy of; read back with validation, so a hand-edited file fails clearly."""

    manifest_version: int = MANIFEST_VERSION
    environment: str
    database: str
    system_identifier: str | None  # None when the backing-up role may not read pg_control_system()
    host: str  # host:port, never credentials
    schema_checksum: str
    created_at: datetime
    entries: int
    tables: int
    size_bytes: int
    pg_dump_version: str
    timescaledb: bool


@dataclass(frozen=True)
class ServerIdentity:
    """What a manifest is compared against: a database name on a server."""

    database: str
    system_identifier: str | None


def manifest_path(backup: Path) -> Path:
    """Inside a directory-format backup; beside a single-file archive."""
    backup = Path(backup)
    return backup / MANIFEST_NAME if backup.is_dir() else backup.with_name(backup.name + ".manifest.json")


def read_system_identifier(conn: psycopg.Connection) -> str | None:
    """The server's system identifier, None when this role may not read it."""
    try:
        with conn.transaction():
            row = conn.execute(SYSTEM_IDENTIFIER_SQL).fetchone()
    except (
        psycopg.errors.InsufficientPrivilege,
        psycopg.errors.UndefinedFunction,
        psycopg.errors.FeatureNotSupported,
    ):
        return None  # recorded as unknown; restore then compares environment and database only
    return str(row[0]) if row else None


def schema_checksum(conn: psycopg.Connection, schema: str) -> str:
    """The same catalog checksum a plan records (db/plan/model.py), of the schema being deployed."""
    return snapshot_checksum(snapshot_catalog(conn, (schema,)))


def write_manifest(backup: Path, manifest: BackupManifest) -> Path:
    """Write the manifest 0600 from its first byte (the backup's files are private too)."""
    path = manifest_path(backup)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(manifest.model_dump_json(indent=2) + "\n")
    return path


def read_manifest(backup: Path) -> BackupManifest | None:
    """The backup's manifest, None when it has none; CheckFailed when it is there but unreadable."""
    path = manifest_path(backup)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return BackupManifest.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckFailed(
            f"the manifest {path} of backup {backup} is not valid: {first}",
            hint="take a new backup; if you trust this one, restore it with " + FOREIGN_FLAG,
        ) from None


def new_manifest(
    *, environment: str, identity: ServerIdentity, checksum: str, host: str, entries: int, tables: int,
    size_bytes: int, pg_dump_version: str, timescaledb: bool,
) -> BackupManifest:  # fmt: skip
    return BackupManifest(
        environment=environment,
        database=identity.database,
        system_identifier=identity.system_identifier,
        host=host,
        schema_checksum=checksum,
        created_at=datetime.now(UTC),
        entries=entries,
        tables=tables,
        size_bytes=size_bytes,
        pg_dump_version=pg_dump_version,
        timescaledb=timescaledb,
    )


def check_archive_origin(
    backup: Path,
    manifest: BackupManifest | None,
    *,
    environment: str,
    target: ServerIdentity,
    tables: int,
    allow_foreign: bool = False,
    allow_empty: bool = False,
    archive_dbname: str | None = None,
    archive_entries: int | None = None,
) -> list[str]:
    """Raise CheckFailed unless `backup` is a non-empty copy of this environment's database.

    Returns what was allowed anyway (for the report), so a forced restore says so.
    """
    allowed: list[str] = []
    if tables == 0:
        problem = f"backup {backup} contains no tables: restoring it would leave an empty database"
        if not allow_empty:
            raise CheckFailed(
                problem + "; nothing was changed",
                hint=f"choose a backup with data; if an empty database is what you want, add {EMPTY_FLAG}",
            )
        allowed.append(problem)
    archive = (archive_dbname, archive_entries, tables)
    for problem in _origin_problems(backup, manifest, environment, target, archive):
        if not allow_foreign:
            raise CheckFailed(
                problem + "; nothing was changed",
                hint=f"restore a backup of {environment}'s database {target.database!r} (schemaflow backup "
                f"--env {environment}); if you are sure this one belongs there, add {FOREIGN_FLAG}",
            )
        allowed.append(problem)
    return allowed


def _origin_problems(
    backup: Path,
    manifest: BackupManifest | None,
    environment: str,
    target: ServerIdentity,
    archive: tuple[str | None, int | None, int],
) -> list[str]:
    if manifest is None:
        return [f"backup {backup} has no {MANIFEST_NAME}, so its origin cannot be checked (an older backup?)"]
    problems = []
    # The manifest is a file anyone with the folder can edit; the archive's own header and table of
    # contents are what pg_dump wrote. A manifest that disagrees with them proves nothing.
    dbname, entries, tables = archive
    if dbname is not None and dbname != manifest.database:
        problems.append(
            f"backup {backup}'s manifest names database {manifest.database!r}, but the archive itself is of "
            f"{dbname!r}: the manifest was edited or belongs to another backup"
        )
    if entries is not None and (entries, tables) != (manifest.entries, manifest.tables):
        problems.append(
            f"backup {backup}'s manifest lists {manifest.entries} entries and {manifest.tables} tables, but "
            f"the archive holds {entries} and {tables}: the manifest was edited or belongs to another backup"
        )
    if manifest.system_identifier is None and target.system_identifier:
        problems.append(
            f"backup {backup}'s manifest names no server (no system identifier), so it cannot be shown "
            "to come from this one"
        )
    if manifest.environment != environment:
        problems.append(
            f"backup {backup} was taken from environment {manifest.environment!r}, not {environment!r}"
        )
    if manifest.database != target.database:
        problems.append(f"backup {backup} is of database {manifest.database!r}, not {target.database!r}")
    if (
        manifest.system_identifier
        and target.system_identifier
        and manifest.system_identifier != target.system_identifier
    ):
        problems.append(
            f"backup {backup} was taken on another server (system identifier {manifest.system_identifier}, "
            f"this server is {target.system_identifier})"
        )
    return problems
