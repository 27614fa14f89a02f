"""Drift detection: how a live database differs from what the master file builds on the same server.

The expected side is never guessed from the file's text: the file is applied into a scratch database
on the target's own server (so it runs under the same PostgreSQL version, TimescaleDB build and
license, i.e. the same schema mode) and that database's catalog is snapshotted. Suggested SQL comes
with every difference; nothing is ever applied to the target.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from db.catalog.capabilities import Capabilities, detect_capabilities
from db.catalog.snapshot import KINDS, Difference, diff_catalogs, snapshot_catalog
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import mask_url, validate_url, with_database
from db.errors import ApplyFailed, ConfigError
from db.schema.master_file import checksum, read_schema

DRIFT_SCHEMAS = ("public",)  # the tool's own `schemaflow` schema (history) is not part of the file
SCRATCH_PREFIX = "schemaflow_drift_"
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
# A --scratch-url database must not already hold tables: the file's IF NOT EXISTS would skip them.
SCRATCH_IS_EMPTY_SQL = """
SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm')
"""


@dataclass
class DriftReport:
    """The differences between the master file and one database, and how the comparison was made."""

    target: str  # masked URL
    mode: str
    schema_checksum: str
    scratch: str  # where the expected side was built (masked)
    differences: list[Difference] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def has_drift(self) -> bool:
        return bool(self.differences)

    def counts(self) -> dict[str, int]:
        """Number of differences per status, e.g. {'missing': 1, 'changed': 2}."""
        out: dict[str, int] = {}
        for diff in self.differences:
            out[diff.status] = out.get(diff.status, 0) + 1
        return out

    def rows(self) -> list[dict[str, str]]:
        """One dict per difference, most severe first (for tables, JSON and artifacts)."""
        return [d.as_dict() for d in self.differences]

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "mode": self.mode,
            "schema_checksum": self.schema_checksum,
            "scratch": self.scratch,
            "seconds": self.seconds,
            "has_drift": self.has_drift,
            "counts": self.counts(),
            "differences": self.rows(),
        }


def check_drift(
    url: str,
    *,
    scratch_url: str | None = None,
    schema_sql: str | None = None,
    schemas: tuple[str, ...] = DRIFT_SCHEMAS,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> DriftReport:
    """Compare the database at `url` with the master file (or `schema_sql`) applied to a scratch database."""
    clock = time.monotonic()
    text = schema_sql if schema_sql is not None else read_schema()
    validate_url(url)
    if scratch_url:
        _refuse_same_database(url, scratch_url)
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        caps = detect_capabilities(conn)
        mode = caps.mode
        actual = snapshot_catalog(conn, schemas)
        if caps.in_recovery and not scratch_url:
            raise ConfigError(
                "the target is a read replica: no scratch database can be created on it",
                hint="pass --scratch-url naming an empty database on its primary (same build)",
            )
        if scratch_url:
            expected = expected_from_existing(scratch_url, text, schemas, caps, connect_timeout)
            scratch = mask_url(scratch_url)
        else:
            with scratch_database(conn, url) as created_url:
                expected = expected_from_new(created_url, text, schemas, connect_timeout)
                scratch = f"{validate_url(created_url)['database']} (created and dropped)"
    diffs = sorted(
        diff_catalogs(expected=expected, actual=actual),
        key=lambda d: (SEVERITY_ORDER.get(d.severity, 9), KINDS.index(d.kind), d.name),
    )
    return DriftReport(
        target=mask_url(url),
        mode=mode,
        schema_checksum=checksum(text),
        scratch=scratch,
        differences=diffs,
        seconds=round(time.monotonic() - clock, 3),
    )


@contextmanager
def scratch_database(conn: psycopg.Connection, url: str) -> Iterator[str]:
    """Create an empty database beside the target (from template0) and drop it afterwards."""
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        raise ConfigError(
            "the role may not create the scratch database that the drift check builds the schema in",
            hint="grant CREATEDB to the role, or pass --scratch-url naming an empty database it may use",
        ) from None
    try:
        yield with_database(url, name)
    finally:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def expected_from_new(url: str, text: str, schemas: tuple[str, ...], connect_timeout: int) -> dict:
    """Apply the file into a fresh scratch database the way migrate does, then snapshot it."""
    from db.deploy.apply import apply_master_schema  # the same apply path as `schemaflow migrate`

    try:
        apply_master_schema(
            url, text, environment="drift-scratch", record_history=False, connect_timeout=connect_timeout
        )
    except ApplyFailed as exc:
        raise _file_does_not_apply(exc.message) from None
    with connect(url, connect_timeout=connect_timeout) as conn:
        return snapshot_catalog(conn, schemas)


def expected_from_existing(
    url: str, text: str, schemas: tuple[str, ...], target: Capabilities, connect_timeout: int
) -> dict:
    """Apply the file into an empty `--scratch-url` database inside a transaction that is rolled back."""
    with connect(url, connect_timeout=connect_timeout) as conn:
        if server_facts(detect_capabilities(conn)) != server_facts(target):
            raise _other_server(url)
        row = conn.execute(SCRATCH_IS_EMPTY_SQL, {"schemas": list(schemas)}).fetchone()
        if row and row[0]:
            raise ConfigError(
                f"the scratch database {mask_url(url)} already holds {row[0]} tables or views",
                hint="point --scratch-url at an empty database; the check leaves it empty again",
            )
        with conn.transaction(force_rollback=True):
            try:
                conn.execute(text)  # type: ignore[arg-type]  # the trusted master file; no parameters
            except psycopg.Error as exc:
                raise _file_does_not_apply(
                    (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                ) from None
            built = detect_capabilities(conn)
            # The license setting is only visible once the extension is loaded in the database.
            if target.timescaledb_license and built.timescaledb_license != target.timescaledb_license:
                raise _other_server(url)
            return snapshot_catalog(conn, schemas)


def server_facts(caps: Capabilities) -> tuple:
    """What decides the schema mode the file picks: PostgreSQL major, TimescaleDB build and preload."""
    return (caps.server_version_num // 10000, caps.timescaledb_available, caps.timescaledb_preloaded)


def _file_does_not_apply(reason: str) -> ConfigError:
    # A configuration error (exit 2), not drift (exit 1): the file itself is broken.
    return ConfigError(
        f"the schema file does not apply to an empty scratch database, so there is nothing to compare "
        f"with: {mask_url(reason)}",
        hint="fix the file (schemaflow lint, or apply it to a fresh database); the target was not touched",
    )


def _other_server(url: str) -> ConfigError:
    return ConfigError(
        f"the scratch database {mask_url(url)} is on a server with other capabilities than the target",
        hint="use a scratch database on the same server (same PostgreSQL and TimescaleDB build)",
    )


def _refuse_same_database(url: str, scratch_url: str) -> None:
    a, b = validate_url(url), validate_url(scratch_url)
    if (a["host"], a["port"], a["database"]) == (b["host"], b["port"], b["database"]):
        raise ConfigError(
            "--scratch-url names the target database itself",
            hint="use a separate, empty database on the same server for --scratch-url",
        )
