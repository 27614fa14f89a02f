"""One-offs inside migrate's apply (db/run/plan_apply.py): before the master's plan, or as baseline.

- A live database: pending one-offs run first (db/versions/run.py), and the plan is computed
  against the result, so a column a one-off renamed is never planned as a drop and a create.
- A dry run: the pending one-offs run in a transaction that is rolled back (db/versions/rehearsal.py)
  and are listed before the plan's steps; the plan shown is computed before them (the real run plans
  again after them), and the listing says so.
- A fresh database: the master builds the end state; the one-offs are rehearsed against it on a
  scratch copy first (db/versions/baseline.py) and recorded as 'baseline' once it has committed.

Each file appears in the run's change list and its steps table, so the run's migration_history row
and its artifacts name every one-off the run applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT
from db.deploy.result import ApplyResult, Change
from db.errors import CheckFailed
from db.versions.baseline import check_master_contains, record_baseline
from db.versions.files import MigrationFile, discover_migrations
from db.versions.rehearsal import rehearse_one_offs
from db.versions.run import Limits, pending_migrations, run_pending_migrations

LOGGER = logging.getLogger("schemaflow.versions")


@dataclass
class OneOffs:
    """What the one-offs did in this run, in the shapes ApplyResult reports (changes, step rows)."""

    files: list[MigrationFile] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def merge_into(self, result: ApplyResult) -> None:
        result.changes = [*self.changes, *result.changes]
        result.steps = [*self.rows, *result.steps]
        result.notices = [*self.notices, *result.notices]


def migration_files(migrations_dir: Path | str | None) -> list[MigrationFile]:
    return discover_migrations(migrations_dir)


def run_one_offs(
    url: str,
    files: list[MigrationFile],
    *,
    environment: str,
    dry_run: bool,
    limits: Limits,
    allow_out_of_order: bool = False,
    restore_command: str | None = None,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    log: Callable[[str], None] | None = None,
) -> OneOffs:
    """Run (or, for a dry run, list) the pending one-offs; CheckFailed / ApplyFailed stop the apply."""
    out = OneOffs()
    if not files:
        return out
    if dry_run:
        status = pending_migrations(
            url, files, allow_out_of_order=allow_out_of_order, connect_timeout=connect_timeout
        )
        rehearsed = rehearse_one_offs(url, status.pending, limits=limits, connect_timeout=connect_timeout)
        for n, item in enumerate(rehearsed, 1):
            f = item.file
            out.changes.append(
                Change(action="pending one-off", kind="migration", name=f.name, detail=f.directives())
            )
            out.rows.append(_row(n, item.status, f.directives(), f"{item.seconds:.3f}", f.name, item.detail))
        if status.pending:
            out.notices.append(
                f"{len(status.pending)} one-off(s) pending, run before the master's plan: "
                + ", ".join(f.name for f in status.pending)
                + "; the transactional ones ran on the data and were rolled back; the plan listed after "
                "them was computed before they ran (the real run plans again after them)"
            )
        return out
    run = run_pending_migrations(
        url, files, environment=environment, limits=limits, allow_out_of_order=allow_out_of_order,
        restore_command=restore_command, connect_timeout=connect_timeout, log=log or LOGGER.info,
    )  # fmt: skip
    for n, ran in enumerate(run.files, 1):
        out.changes.append(
            Change(action="applied one-off", kind="migration", name=ran.name, detail=ran.detail or ran.how)
        )
        out.rows.append(
            _row(n, ran.status, ran.how, f"{ran.seconds:.3f}", ran.name, ran.detail, str(ran.attempts))
        )
    if run.missing_files:
        out.notices.append(
            f"applied one-off(s) no longer in the folder (merged into the master?): {run.missing_files}"
        )
    return out


def baseline_one_offs(
    url: str,
    master_text: str,
    files: list[MigrationFile],
    *,
    environment: str,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> Callable[[ApplyResult], ApplyResult]:
    """Rehearse the files on the master's end state (raise naming a file it lacks); the returned
    function records them as baseline once the master has committed on the target."""
    check_master_contains(url, master_text, files, connect_timeout=connect_timeout)

    def record(result: ApplyResult) -> ApplyResult:
        if files and not result.dry_run:
            record_baseline(url, files, environment=environment, connect_timeout=connect_timeout)
            result.notices.append(
                f"baseline: {len(files)} one-off(s) recorded as contained in the master file"
            )
            result.changes += [
                Change(action="baseline one-off", kind="migration", name=f.name) for f in files
            ]
        return result

    return record


def _row(
    n: int, status: str, how: str, seconds: str, name: str, detail: str, attempts: str = "0"
) -> dict[str, str]:
    return {"step": f"one-off {n}", "status": status, "where": how, "lock": "-", "seconds": seconds,
            "lock wait (s)": "-", "attempts": attempts, "sql": name, "detail": detail}  # fmt: skip


def refuse_pending_one_offs(
    url: str,
    files: list[MigrationFile],
    *,
    environment: str,
    allow_out_of_order: bool = False,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> None:
    """CheckFailed naming the pending one-offs, if any: an approval covers the plan, not them."""
    if not files:
        return
    status = pending_migrations(
        url, files, allow_out_of_order=allow_out_of_order, connect_timeout=connect_timeout
    )
    if status.pending:
        names = ", ".join(f.name for f in status.pending)
        raise CheckFailed(
            f"{len(status.pending)} one-off migration(s) pending ({names}) in {environment!r}, which "
            "approves plans; nothing was changed",
            hint="approving one-offs together with the plan is not supported yet: deploy them in a "
            "reviewed run of an environment without require_approval on this database, then migrate again",
        )
