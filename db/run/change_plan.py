"""The plan of a change: what merging HEAD's master file (and one-offs) will do to a database built from BASE.

Both sides are built for real, on a scratch server (the embedded local cluster, or --scratch-url):
BASE's file is applied the way migrate applies it to an empty database and its one-offs are recorded
as baseline, so the one-offs HEAD adds are pending there. They run, as the migrate after the merge
runs them, and the plan is computed against the result exactly as `plan --env` computes it against a
live database (db/catalog/drift.py compare_sides, then the planner), with HEAD's file built in a
second scratch database. Both databases are created for this plan and dropped afterwards.

Nothing is read from a live database unless `stats_from` names one (a staging replica, read-only):
its sizes, chunk counts and rows then decide the online forms and hazards and feed the data checks,
as they would for the real deploy. Without it every existing table is taken to hold rows (size
unknown), so the plan shows the forms a populated database gets, and no step shows a size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import conninfo

from db.catalog.capabilities import detect_capabilities
from db.catalog.drift import FileDoesNotApply, Sides, compare_sides
from db.catalog.scratch import mismatches, throwaway_database
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import mask_url
from db.deploy.apply import apply_master_schema
from db.errors import ApplyFailed, ConfigError
from db.plan.data_checks import check_plan_data
from db.plan.model import Plan, RelationSize
from db.plan.planner import plan_changes
from db.plan.retention_hazards import retention_hazards
from db.plan.scoped_hazards import scope_hazards
from db.plan.sizes import read_sizes
from db.plan.squawk import lint_plan
from db.schema.lint import lint_sql
from db.schema.precheck import BLOCKING_RULES
from db.versions.baseline import record_baseline
from db.versions.files import MigrationFile
from db.versions.lint import lint_migration
from db.versions.run import DEFAULT_LIMITS, Limits, run_pending_migrations

BUILD_ENVIRONMENT = "plan-base"  # what the base scratch database's history rows name
READ_ONLY_OPTION = "-c default_transaction_read_only=on"
CAN_CREATE_SQL = "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"


@dataclass(frozen=True)
class Side:
    """One side of the change: where its master file came from, its text, and the one-offs beside it."""

    label: str  # a path, or REF:PATH for a file read from git; never a connection string
    text: str
    one_offs: tuple[MigrationFile, ...] = ()


@dataclass(frozen=True)
class ChangePlan:
    """The plan of a change, what produced it, and what a reviewer is told besides the steps."""

    plan: Plan
    base: str
    head: str
    scratch: str  # masked
    one_offs_added: tuple[MigrationFile, ...] = ()
    stats_from: str = ""  # masked; "" when no live database was read
    lint: tuple[str, ...] = ()  # findings, each `where: RULE ...`
    environment: str = ""  # whose allowed hazards mark the steps ("" none)
    allowed_hazards: frozenset[str] | None = None

    @property
    def not_allowed(self) -> dict[int, list[str]]:
        """Step number -> the hazards of that step the environment would not allow."""
        if self.allowed_hazards is None:
            return {}
        out = {}
        for number, step in enumerate(self.plan.steps, 1):
            refused = [str(h) for h in step.hazards if str(h) not in self.allowed_hazards]
            if refused:
                out[number] = refused
        return out

    @property
    def has_changes(self) -> bool:
        return not self.plan.is_empty or bool(self.one_offs_added) or bool(self.lint)

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "scratch": self.scratch,
            "stats_from": self.stats_from or None,
            "environment": self.environment or None,
            "one_offs_added": [
                {"version": f.version, "file": f.name, "checksum": f.checksum, "directives": f.directives()}
                for f in self.one_offs_added
            ],
            "not_allowed": {str(n): hazards for n, hazards in self.not_allowed.items()},
            "lint": list(self.lint),
            "plan": self.plan.as_dict(),
        }


def added_one_offs(base: Side, head: Side) -> tuple[MigrationFile, ...]:
    """HEAD's one-offs whose version BASE does not have, oldest first (what the merge adds)."""
    known = {f.version for f in base.one_offs}
    return tuple(f for f in head.one_offs if f.version not in known)


def plan_change(
    base: Side,
    head: Side,
    *,
    scratch_url: str,
    stats_from: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    allow_out_of_order: bool = False,
    allow_destroy: bool = False,
    exclude_schemas: tuple[str, ...] = (),
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> ChangePlan:
    """Build BASE (and run HEAD's new one-offs on it), plan towards HEAD, drop both scratch databases."""
    refuse_unbuildable(head)
    with connect(scratch_url, autocommit=True, connect_timeout=connect_timeout) as admin:
        if stats_from:  # before anything is built: sizes from another build would mislead
            with connect(read_only(stats_from), autocommit=True, connect_timeout=connect_timeout) as stats:
                refuse_other_build(admin, stats, stats_from)
    with (
        connect(scratch_url, autocommit=True, connect_timeout=connect_timeout) as admin,
        _scratch_databases(admin, scratch_url) as (base_url, expected_url),
    ):
        _build_base(base, base_url, connect_timeout)
        run_pending_migrations(
            base_url, list(head.one_offs), environment=BUILD_ENVIRONMENT, limits=limits,
            allow_out_of_order=allow_out_of_order, connect_timeout=connect_timeout,
        )  # fmt: skip
        try:
            sides = compare_sides(
                base_url, scratch_url=expected_url, schema_sql=head.text,
                exclude_schemas=exclude_schemas, connect_timeout=connect_timeout,
            )  # fmt: skip
        except FileDoesNotApply as exc:
            raise ConfigError(f"{head.label}: {exc.message}", hint=exc.hint) from None
        plan = _plan_towards(sides, base_url, stats_from, allow_destroy, connect_timeout)
    added = added_one_offs(base, head)
    return ChangePlan(
        plan=plan,
        base=base.label,
        head=head.label,
        scratch=mask_url(scratch_url),
        one_offs_added=added,
        stats_from=mask_url(stats_from) if stats_from else "",
        lint=lint_change(head, added, plan, limits),
    )


def refuse_unbuildable(head: Side) -> None:
    """ConfigError naming HEAD's line where it cannot be tried: a parse error, BEGIN/COMMIT, CONCURRENTLY."""
    blocking = [f for f in lint_sql(head.text) if f.rule in BLOCKING_RULES]
    if blocking:
        raise ConfigError(
            f"{blocking[0].format(head.label)}; nothing was built", hint=f"fix that line: {blocking[0].hint}"
        )


def lint_change(head: Side, added: tuple[MigrationFile, ...], plan: Plan, limits: Limits) -> tuple[str, ...]:
    """What the linters say of the change: HEAD's master file, the one-offs it adds, Squawk on the plan."""
    found = [f.format(head.label) for f in lint_sql(head.text)]
    found += [x.format() for f in added for x in lint_migration(f, limits=limits.as_settings())]
    found += [f"plan {x.format()} (squawk)" for x in lint_plan(plan)]
    return tuple(found)


def read_only(url: str) -> str:
    """`url` with every transaction read-only: the statistics source is only ever read."""
    given = conninfo.conninfo_to_dict(url).get("options") or ""
    return conninfo.make_conninfo(url, options=f"{given} {READ_ONLY_OPTION}".strip())


@contextmanager
def _scratch_databases(admin: psycopg.Connection, scratch_url: str) -> Iterator[tuple[str, str]]:
    """Two new databases beside `scratch_url`: BASE is built in the first, HEAD in the second."""
    row = admin.execute(CAN_CREATE_SQL).fetchone()
    if not (row and row[0]):
        raise ConfigError(
            f"the role of the scratch server {mask_url(scratch_url)} may not create databases",
            hint="the plan of a change builds two throwaway databases there (dropped afterwards): use a "
            "role with CREATEDB in --scratch-url, or the embedded cluster (schemaflow local-db start)",
        )
    with (
        throwaway_database(admin, scratch_url) as base_url,
        throwaway_database(admin, scratch_url) as head_url,
    ):
        yield base_url, head_url


def _plan_towards(
    sides: Sides, base_url: str, stats_from: str | None, allow_destroy: bool, connect_timeout: int
) -> Plan:
    """The planner on the two built sides; sizes, chunks and data checks from `stats_from` when given."""
    stats_url = read_only(stats_from) if stats_from else None
    with ExitStack() as stack:
        built = stack.enter_context(connect(base_url, autocommit=True, connect_timeout=connect_timeout))
        stats = None
        if stats_url:
            stats = stack.enter_context(connect(stats_url, autocommit=True, connect_timeout=connect_timeout))
        sizes = _live_sizes(stats, sides.actual) if stats else {}
        plan = plan_changes(
            sides.expected, sides.actual, migrating_role=sides.migrating_role, allow_destroy=allow_destroy,
            sizes=sizes, schema_checksum=sides.schema_checksum, mode=sides.mode, replays=sides.replays,
        )  # fmt: skip
        if not plan.is_empty:
            plan = scope_hazards(stats or built, plan)  # chunks: only a live database has them
            # A shorter retention window: counted from the live database, else flagged uncounted.
            plan = retention_hazards(stats or built, plan, rows_known=stats is not None)
    if stats_url and not plan.is_empty:
        plan = check_plan_data(stats_url, plan, connect_timeout=connect_timeout)
    return plan


def _build_base(base: Side, url: str, connect_timeout: int) -> None:
    """BASE as a database migrate built: the file applied, its one-offs recorded as baseline."""
    try:
        apply_master_schema(
            url, base.text, environment=BUILD_ENVIRONMENT, record_history=False,
            connect_timeout=connect_timeout,
        )  # fmt: skip
    except ApplyFailed as exc:
        raise ConfigError(
            f"{base.label}: the base file does not build on an empty scratch database: {exc.message}",
            hint="the base revision must be a file that migrates; pass another --base-ref or --from-file",
        ) from None
    record_baseline(url, list(base.one_offs), environment=BUILD_ENVIRONMENT, connect_timeout=connect_timeout)


def refuse_other_build(scratch: psycopg.Connection, stats: psycopg.Connection, shown: str) -> None:
    """ConfigError when the statistics source's server would build another schema mode than the scratch's."""
    found = mismatches(detect_capabilities(scratch), detect_capabilities(stats))
    if found:
        raise ConfigError(
            f"--stats-from {mask_url(shown)} runs another build than the scratch server: {'; '.join(found)}",
            hint="use a scratch server (--scratch-url) of the same PostgreSQL major version, TimescaleDB "
            "version and license as the database the statistics come from",
        )


def _live_sizes(stats: psycopg.Connection, actual: dict) -> dict[str, RelationSize]:
    schemas = {name.split(".", 1)[0] for name in actual.get("table", {})} or {"public"}
    return read_sizes(stats, schemas)


def with_environment(change: ChangePlan, environment: str, allowed: set[str]) -> ChangePlan:
    """The change with its steps judged against an environment's allowed hazards."""
    return replace(change, environment=environment, allowed_hazards=frozenset(allowed))
