"""Validate one-off files against their history before anything runs, and `repair` on purpose.

Refused, naming the file (CheckFailed, nothing changed):
- an applied file whose text changed since it ran (both checksums shown);
- a pending file older than the newest applied one (out of order), unless the environment sets
  allow_out_of_order = true; such a file then runs and its row says out_of_order.

`repair` is the deliberate way past an edited file: it records the file's new checksum as a
'repair' row with the reason, so the change is in the history and never silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from db.errors import CheckFailed, ConfigError
from db.versions.files import MigrationFile
from db.versions.history import AppliedVersion, VersionRow, applied_versions, record_version


@dataclass(frozen=True)
class Status:
    """Where the files stand against the database: what is applied, what is pending."""

    applied: dict[str, AppliedVersion]
    pending: list[MigrationFile]
    out_of_order: frozenset[str] = field(default_factory=frozenset)
    missing_files: tuple[str, ...] = ()  # applied versions whose file is gone (merged into the master)


def version_status(
    conn: psycopg.Connection, files: list[MigrationFile], *, allow_out_of_order: bool = False
) -> Status:
    """Check the files against the history; raise CheckFailed for an edited or out-of-order file."""
    applied = applied_versions(conn)
    edited = [
        (f, applied[f.version])
        for f in files
        if f.version in applied and applied[f.version].checksum != f.checksum
    ]
    if edited:
        f, row = edited[0]
        raise CheckFailed(
            f"one-off {f.name} was edited after it was applied ({row.kind} {row.finished_at:%Y-%m-%d %H:%M} "
            f"UTC): checksum recorded {row.checksum[:16]}, file now {f.checksum[:16]}; nothing was changed"
            + (f" ({len(edited) - 1} more edited file(s))" if len(edited) > 1 else ""),
            hint="undo the edit and put the change in a new one-off (schemaflow new-migration SLUG); if "
            f"the edit is deliberate, record it: schemaflow repair --env ENV --version {f.version} "
            "--reason WHY",
        )
    pending = [f for f in files if f.version not in applied]
    newest = max(applied, default="")
    late = frozenset(f.version for f in pending if f.version < newest)
    if late and not allow_out_of_order:
        first = next(f for f in pending if f.version in late)
        raise CheckFailed(
            f"one-off {first.name} is older than the newest applied version {newest} (out of order); "
            "nothing was changed",
            hint="give it a timestamp after the newest applied one (rename the file), or, if its order "
            "does not matter, set allow_out_of_order = true for this environment in environments.toml",
        )
    present = {f.version for f in files}
    missing = tuple(sorted(v for v in applied if v not in present))
    return Status(applied=applied, pending=pending, out_of_order=late, missing_files=missing)


def repair_version(
    conn: psycopg.Connection, files: list[MigrationFile], version: str, *, environment: str, reason: str
) -> VersionRow:
    """Record the current checksum of an applied, edited file as a 'repair' row (with the reason)."""
    if not reason.strip():
        raise ConfigError("repair needs a reason", hint="pass --reason saying why the applied file changed")
    applied = applied_versions(conn)
    file = next((f for f in files if f.version == version), None)
    if file is None or version not in applied:
        raise ConfigError(
            f"version {version} is not an applied one-off with a file in the migrations folder",
            hint="see the applied versions with schemaflow versions --env ENV",
        )
    old = applied[version].checksum
    row = VersionRow(
        version=version, slug=file.slug, checksum=file.checksum, kind="repair", outcome="success",
        environment=environment, started_at=datetime.now(UTC),
        detail=f"checksum {old} -> {file.checksum}: {reason.strip()}",
    )  # fmt: skip
    with conn.transaction():
        record_version(conn, row)
    return row
