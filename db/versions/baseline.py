"""Baseline: a fresh database gets its end state from the master file; its one-offs are recorded, not run.

On an empty target the master file builds everything at once, so a one-off's rename or backfill has
nothing to act on. Before the target is touched, the end state is built in a scratch database beside
it (db/catalog/scratch.py throwaway_database, the master applied the way migrate applies it), and each
one-off is run there on top of it, in order, inside a transaction that is rolled back. The planner
(db/plan/planner.py plan_changes) then compares the catalog before and after each file: an empty
plan means the master already contains the file's effect. A non-empty one means the master is
missing it, and the run stops naming the file and what the master lacks, with the target unchanged.
After the master has been applied to the target, every file gets a 'baseline' row.

A no-transaction file's CONCURRENTLY is dropped for this rehearsal only (the scratch is empty and
the rehearsal is one transaction); a batch file's UPDATEs run whole (the scratch has no rows).
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from pglast import ast, parse_sql
from pglast.stream import RawStream

from db.catalog.scratch import throwaway_database
from db.catalog.snapshot import snapshot_catalog
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line
from db.deploy.apply import apply_master_schema
from db.errors import CheckFailed
from db.plan.planner import plan_changes
from db.plan.render import describe_step
from db.schema.statements import split_file
from db.versions.files import MigrationFile
from db.versions.history import VersionRow, ensure_versions_table, record_version

MAX_LISTED = 3
BASELINE_DETAIL = "fresh database: the master file already contains its effect (rehearsed on a scratch copy)"


def check_master_contains(
    url: str, master_text: str, files: list[MigrationFile], *, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
) -> None:
    """Raise CheckFailed naming the first one-off whose effect the master file does not contain."""
    if not files:
        return
    with (
        connect(url, autocommit=True, connect_timeout=connect_timeout) as admin,
        throwaway_database(admin, url) as scratch_url,
    ):
        apply_master_schema(
            scratch_url, master_text, environment="baseline-scratch", record_history=False,
            connect_timeout=connect_timeout,
        )  # fmt: skip
        with connect(scratch_url, connect_timeout=connect_timeout) as conn:
            conn.execute("SET client_min_messages = warning")
            with conn.transaction(force_rollback=True):
                for f in files:
                    _rehearse(conn, f)


def _rehearse(conn: psycopg.Connection, f: MigrationFile) -> None:
    before = snapshot_catalog(conn, None)
    try:
        with conn.transaction():
            for statement in split_file(f.up):
                conn.execute(_in_transaction(statement.text) if not f.transactional else statement.text)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        first = first_error_line(exc)
        raise CheckFailed(
            f"baseline: one-off {f.name} fails on the end state the master file builds: {first}; "
            "nothing was changed",
            hint=f"give {f.name} a guard so it does nothing where its change is already made "
            "(schemaflow new-migration writes one), or add its effect to the master file",
        ) from None
    after = snapshot_catalog(conn, None)
    plan = plan_changes(after, before, allow_destroy=True)
    if not plan.is_empty:
        listed = "; ".join(describe_step(s) for s in plan.steps[:MAX_LISTED])
        more = f" and {len(plan.steps) - MAX_LISTED} more" if len(plan.steps) > MAX_LISTED else ""
        raise CheckFailed(
            f"baseline: the master file is missing the effect of one-off {f.name} ({len(plan.steps)} "
            f"change(s): {listed}{more}); nothing was changed",
            hint=f"put what {f.name} does into the master file (a fresh database is built from it alone)",
        )


def _in_transaction(statement: str) -> str:
    """The statement without CONCURRENTLY, so the rehearsal runs it inside its transaction."""
    parsed = parse_sql(statement)
    changed = False
    for raw in parsed:
        node = raw.stmt
        if isinstance(node, ast.IndexStmt | ast.DropStmt | ast.ReindexStmt) and getattr(
            node, "concurrent", False
        ):
            node.concurrent = False  # type: ignore[union-attr]
            changed = True
    return ";\n".join(RawStream()(raw.stmt) for raw in parsed if raw.stmt) if changed else statement


def record_baseline(
    url: str, files: list[MigrationFile], *, environment: str, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
) -> int:
    """A 'baseline' row for every file, in one transaction; returns how many were recorded."""
    if not files:
        return 0
    started = datetime.now(UTC)
    with connect(url, connect_timeout=connect_timeout) as conn, conn.transaction():
        ensure_versions_table(conn)
        for f in files:
            record_version(
                conn,
                VersionRow(
                    version=f.version, slug=f.slug, checksum=f.checksum, kind="baseline", outcome="success",
                    environment=environment, started_at=started,
                    detail=BASELINE_DETAIL,
                ),
            )  # fmt: skip
    return len(files)
