"""Drift detection: how a live database differs from what the master file builds on the same server.

The expected side is never guessed from the file's text: the file is applied into a scratch database
(db/catalog/scratch.py: on the target's server, or on one of the same PostgreSQL major version,
TimescaleDB version and license, i.e. the same schema mode) and its catalog is snapshotted. The planner
(db/plan/) turns the two snapshots into the plan whose steps are the differences' suggested SQL;
nothing is ever applied to the target. Owners are compared relative to the role that migrated
(the live side) and the role that built the scratch database (the expected side): both stand for
"whoever runs the file", so drift run by another role raises nothing on a clean database.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from db.catalog.capabilities import Capabilities, detect_capabilities
from db.catalog.normal_form import align_spellings
from db.catalog.replay_checks import NeededReplay, needed_replays
from db.catalog.scratch import (
    ScratchSite,
    ensure_scratch_database,
    mismatches,
    refuse_mismatch,
    reset_scratch,
    same_server,
    scratch_site,
)
from db.catalog.snapshot import KINDS, Snapshot, SnapshotScope, snapshot_catalog, snapshot_in_scope
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line, mask_url, validate_url
from db.errors import ConfigError
from db.plan.differences import Difference, diff_catalogs
from db.plan.model import Plan, RelationSize
from db.plan.sizes import read_sizes
from db.schema.declared_roles import declared_roles
from db.schema.master_file import checksum, read_schema
from db.schema.replayed import PASSWORD, replayed_statements
from db.schema.statements import error_line, split_file

# None: every user schema. TimescaleDB's internal schemas and schemaflow's own are never included.
DRIFT_SCHEMAS: tuple[str, ...] | None = None
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
# A line of the file quoted in an error never shows a password it sets.
_PASSWORD_LITERAL = re.compile(r"(PASSWORD\s+)'(?:[^']|'')*'", re.IGNORECASE)
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
    plan: Plan | None = None  # the steps that make the database match the file

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
            "plan": self.plan.as_dict() if self.plan else None,
        }


SchemaView = tuple[tuple[str, ...] | None, tuple[str, ...]]  # (schemas or None for all, excluded)


@dataclass
class Sides:
    """The two catalogs a drift check or a plan compares, and what the planner needs besides."""

    expected: Snapshot
    actual: Snapshot
    mode: str
    scratch: str
    schema_checksum: str
    migrating_role: str
    sizes: dict[str, RelationSize]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (benchmarks/bench_plan.py)
    scope: SnapshotScope | None = None  # how `actual` was read
    replays: list[NeededReplay] = field(default_factory=list)  # the file's statements no catalog shows
    # Where the expected side was built and what the target runs: the plan's proof (db/plan/proof.py)
    # copies the live side into that same scratch database.
    site: ScratchSite | None = None
    capabilities: Capabilities | None = None
    view: SchemaView = (None, ())


def check_drift(
    url: str,
    *,
    scratch_url: str | None = None,
    schema_sql: str | None = None,
    schemas: tuple[str, ...] | None = DRIFT_SCHEMAS,
    exclude_schemas: tuple[str, ...] = (),
    allow_destroy: bool = False,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> DriftReport:
    """Compare the database at `url` with the master file (or `schema_sql`) applied to a scratch database."""
    from db.plan.planner import plan_changes  # the planner reads the catalog package: import at use

    clock = time.monotonic()
    sides = compare_sides(
        url, scratch_url=scratch_url, schema_sql=schema_sql, schemas=schemas,
        exclude_schemas=exclude_schemas, connect_timeout=connect_timeout,
    )  # fmt: skip
    plan = plan_changes(
        sides.expected, sides.actual, migrating_role=sides.migrating_role, allow_destroy=allow_destroy,
        sizes=sides.sizes, schema_checksum=sides.schema_checksum, mode=sides.mode, replays=sides.replays,
    )  # fmt: skip
    diffs = sorted(
        diff_catalogs(expected=sides.expected, actual=sides.actual, plan=plan)
        + [replay_difference(n) for n in sides.replays],
        key=lambda d: (SEVERITY_ORDER.get(d.severity, 9), KINDS.index(d.kind), d.name),
    )
    return DriftReport(
        target=mask_url(url),
        mode=sides.mode,
        schema_checksum=sides.schema_checksum,
        scratch=sides.scratch,
        differences=diffs,
        seconds=round(time.monotonic() - clock, 3),
        plan=plan,
    )


def compare_sides(
    url: str,
    *,
    scratch_url: str | None = None,
    schema_sql: str | None = None,
    schemas: tuple[str, ...] | None = DRIFT_SCHEMAS,
    exclude_schemas: tuple[str, ...] = (),
    migrating_role: str | None = None,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> Sides:
    """Snapshot the live database and build the expected side from the file beside it."""
    text = schema_sql if schema_sql is not None else read_schema()
    validate_url(url)
    replayed = replayed_statements(text)  # a statement no plan can replay stops here, naming its line
    site = scratch_site(url, scratch_url)
    _refuse_same_database(url, site.url)
    roles, memberships = declared_roles(text)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        caps = detect_capabilities(conn)
        role = migrating_role or live_migrating_role(conn)
        scope = SnapshotScope(
            schemas=tuple(schemas) if schemas is not None else None,
            exclude_schemas=tuple(exclude_schemas),
            roles=tuple(roles),
            migrating_role=role,
        )
        actual = snapshot_in_scope(conn, scope)
        replays = needed_replays(conn, replayed)
        sizes = read_sizes(conn, {name.split(".", 1)[0] for name in actual["table"]} or ["public"])
        timings["live snapshot and sizes"] = time.perf_counter() - clock
        if same_server(url, site.url):
            if caps.in_recovery:
                raise ConfigError(
                    "the target is a read replica: its server cannot hold the scratch database",
                    hint="pass --scratch-url naming an empty database on its primary (same build)",
                )
            site = ensure_scratch_database(conn, site, _current_user(conn))
    clock = time.perf_counter()
    expected = build_expected(site, text, (schemas, exclude_schemas), caps, connect_timeout, live=actual)
    timings["scratch database (apply, snapshot, roll back)"] = time.perf_counter() - clock
    # Roles are the cluster's: the scratch database sees the live ones, so the file says what they are.
    expected["role"], expected["role_membership"] = roles, memberships
    scratch = mask_url(site.url)
    return Sides(
        expected, actual, caps.mode, scratch, checksum(text), role, sizes, timings, scope, replays,
        site, caps, (schemas, exclude_schemas),
    )  # fmt: skip


def replay_difference(needed: NeededReplay) -> Difference:
    """A statement of the file the database lacks the effect of, as drift reports it (never a secret)."""
    replay = needed.replay
    if replay.kind == PASSWORD:
        return Difference("role", replay.name, "changed", needed.reason, "high", replay.shown + ";")
    return Difference("table", replay.name, "changed", needed.reason, "medium", replay.shown + ";")


# The role that ran migrate: its last successful history row; else the owner of schemaflow's own
# schema (which migrate creates); else whoever connects now.
_HISTORY_ROLE_SQL = """
SELECT db_user FROM schemaflow.migration_history WHERE outcome = 'success' ORDER BY id DESC LIMIT 1
"""
_SCHEMA_OWNER_SQL = """
SELECT coalesce((SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'schemaflow'),
                current_user::text)
"""


def live_migrating_role(conn: psycopg.Connection) -> str:
    try:
        with conn.transaction():
            present = conn.execute(
                "SELECT to_regclass('schemaflow.migration_history') IS NOT NULL"
            ).fetchone()
            row = conn.execute(_HISTORY_ROLE_SQL).fetchone() if present and present[0] else None
        if row:
            return str(row[0])
    except psycopg.errors.InsufficientPrivilege:
        pass  # a monitoring role may not read the history: the schema's owner says the same
    return str(conn.execute(_SCHEMA_OWNER_SQL).fetchone()[0])  # type: ignore[index]


def _current_user(conn: psycopg.Connection) -> str:
    return str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]


def build_expected(
    site: ScratchSite,
    text: str,
    view: SchemaView,
    target: Capabilities,
    connect_timeout: int,
    *,
    live: Snapshot | None = None,
) -> dict:
    """Apply the file to the scratch database in one transaction, snapshot it, and roll back.

    Rolled back, not committed: the database stays empty for the next run, and roles belong to the
    cluster, so the file's CREATE ROLE, ALTER ROLE and GRANT role TO ... would otherwise change the
    live side while only looking at it. `live`: the live snapshot, whose spellings of the same
    definitions the expected side takes (db/catalog/normal_form.py).
    """
    with connect(site.url, autocommit=True, connect_timeout=connect_timeout) as conn:
        scratch = detect_capabilities(conn)
        found = mismatches(scratch, target)
        if found:
            raise refuse_mismatch(site.url, found)
        _refuse_unknown_mode(scratch, target, _current_user(conn))
        row = conn.execute(SCRATCH_IS_EMPTY_SQL, {"schemas": list(view[0] or ["public"])}).fetchone()
        if row and row[0]:
            if not site.managed:
                raise ConfigError(
                    f"the scratch database {mask_url(site.url)} already holds {row[0]} tables or views",
                    hint="point --scratch-url at an empty database; the check leaves it empty again",
                )
            reset_scratch(conn)
        failure: psycopg.Error | None = None
        with conn.transaction(force_rollback=True):
            load_target_extension(conn, scratch, target, site.url)
            try:
                conn.execute(text)  # type: ignore[arg-type]  # the trusted master file; no parameters
            except psycopg.Error as exc:
                failure = exc
            if failure is None:
                built = detect_capabilities(conn)
                if target.timescaledb_installed and built.mode != target.mode:
                    raise refuse_mismatch(
                        site.url, [f"the file built mode {built.mode} there, the target runs {target.mode}"]
                    )
                snap = snapshot_catalog(
                    conn, view[0], exclude_schemas=view[1], migrating_role=_current_user(conn)
                )
                if live is not None:
                    align_spellings(conn, snap, live)
                return snap
    # Only syntax errors carry a position: find the failing statement by running them one by one, in
    # a session of its own (TimescaleDB's library, loaded by the first try, refuses a second CREATE
    # EXTENSION in the same session, which named the wrong line).
    assert failure is not None  # a file that applied has returned its snapshot above
    with connect(site.url, autocommit=True, connect_timeout=connect_timeout) as conn:
        line = _failing_statement_line(conn, text, scratch, target, site.url, failure)
    raise _file_does_not_apply(failure, text, line) from None


def _refuse_unknown_mode(scratch: Capabilities, target: Capabilities, role: str) -> None:
    """Stop when the file would guess TimescaleDB's mode: the role cannot see whether it is preloaded."""
    if target.timescaledb_installed or scratch.preload_known or not scratch.timescaledb_available:
        return
    raise ConfigError(
        f"cannot tell whether TimescaleDB is preloaded on the server: the role {role} may not read "
        "shared_preload_libraries, so the file would build the plain mode whatever the server runs",
        hint=f"a superuser runs: GRANT pg_read_all_settings TO {role}; or creates the extension in the "
        "target database first: CREATE EXTENSION timescaledb",
    )


def load_target_extension(
    conn: psycopg.Connection, scratch: Capabilities, target: Capabilities, url: str
) -> None:
    """Create TimescaleDB (the target's version) first where the file could not see it is loadable.

    The file creates it only when it can tell the library is preloaded, which a role without
    pg_read_all_settings cannot; the target having it installed proves the server loads it.
    """
    if not target.timescaledb_installed or scratch.timescaledb_installed or scratch.timescaledb_preloaded:
        return
    statement = sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb VERSION {}").format(
        sql.Literal(target.timescaledb_installed)
    )
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.Error as exc:
        raise ConfigError(
            f"the scratch database {mask_url(url)} cannot load TimescaleDB "
            f"{target.timescaledb_installed}, which the target runs: {first_error_line(exc)}",
            hint="an admin creates it there once: CREATE EXTENSION timescaledb VERSION "
            f"'{target.timescaledb_installed}' (in the scratch database); it is trusted, so the "
            "database's owner may too",
        ) from None


class FileDoesNotApply(ConfigError):
    """The schema file fails on an empty database; `line` is where the server says (None if it does not)."""

    def __init__(self, message: str, *, hint: str, line: int | None) -> None:
        super().__init__(message, hint=hint)
        self.line = line


def _file_does_not_apply(exc: psycopg.Error, text: str, line: int | None) -> FileDoesNotApply:
    # A configuration error (exit 2), not drift (exit 1): the file itself is broken.
    reason = first_error_line(exc)
    where = ""
    if line:
        shown = _PASSWORD_LITERAL.sub(r"\1'***'", text.splitlines()[line - 1].strip())
        where = f" at line {line} ({shown[:80]!r})"
    return FileDoesNotApply(
        f"the schema file does not apply to an empty scratch database{where}, so there is nothing to "
        f"compare with: {reason}",
        hint=(
            f"fix line {line} of the file"
            if line
            else "fix the file (apply it to a fresh database to see where)"
        )
        + "; the target was not touched",
        line=line,
    )


def _failing_statement_line(
    conn: psycopg.Connection,
    text: str,
    scratch: Capabilities,
    target: Capabilities,
    url: str,
    failure: psycopg.Error,
) -> int | None:
    """Run the file statement by statement (rolled back) to the one that fails as the whole file did:
    the line its error points at (db/schema/statements.py, as apply names it). None rather than a
    line whose statement fails differently."""
    with conn.transaction(force_rollback=True):
        load_target_extension(conn, scratch, target, url)
        for statement in split_file(text):
            try:
                conn.execute(statement.text)  # type: ignore[arg-type]  # the trusted master file's own statement
            except psycopg.Error as exc:
                return error_line(statement, exc) if exc.sqlstate == failure.sqlstate else None
    return None


def _refuse_same_database(url: str, scratch_url: str) -> None:
    a, b = validate_url(url), validate_url(scratch_url)
    if (a["host"], a["port"], a["database"]) == (b["host"], b["port"], b["database"]):
        raise ConfigError(
            "--scratch-url names the target database itself",
            hint="use a separate, empty database on the same server for --scratch-url",
        )
