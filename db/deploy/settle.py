"""What a failed run left behind: the steps that committed, those that did not, and the proof.

An error text written where the failure happened ("rolled back, nothing was changed") cannot know
that a one-off committed before it, or that an online step's build was half done; an on-call engineer
acts on it. So after any failure of a planned run the catalog is read again and compared with the
checksum the plan was computed from: "nothing was changed" only when they are equal, otherwise the
committed steps are named, and the next run's behaviour is said (it plans against what is there).
A failed one-off is settled the same way from schemaflow's own records (the files this run applied,
the backfills left partly done), and the next successful run says what it finished of a failed one.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from db.clip import clip
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.deploy.execute import catalog_checksum_now
from db.deploy.history import list_runs
from db.deploy.result import ApplyResult, Change
from db.errors import SchemaflowError
from db.plan.model import Plan

NEXT_RUN = (
    "the next run plans against what is there now and runs only what is left (an index a build left "
    "invalid is dropped and built again)"
)
# Claims the executor's and SIGTERM's messages make from where they stood; the settled text replaces them.
UNPROVEN_CLAIMS = {
    "; rolled back, nothing was changed": "",
    "; the transactional steps before it were committed": "",
    " after the schema change was committed; the post-commit step running then was cancelled": (
        ": the running step was cancelled"
    ),
    "; nothing was changed and the migration lock was released": "; the migration lock was released",
}
ONE_OFF_NEXT_RUN = (
    "the next run runs the pending one-offs again (a partly done backfill continues after its last "
    "committed batch), then plans the master file against what is there"
)
MAX_NAMED = 10
# The one-offs this run applied (their rows are written in the transaction that applied them).
APPLIED_SINCE_SQL = """
SELECT version || '_' || slug || '.sql' FROM schemaflow.migration_versions
WHERE kind = 'applied' AND outcome = 'success' AND started_at >= %s ORDER BY id
"""
# Backfills with committed batches that have not converged: the next run continues each.
UNFINISHED_BACKFILLS_SQL = """
SELECT version, statement, batches, rows_done FROM schemaflow.migration_backfill
WHERE NOT finished AND batches > 0 ORDER BY version, statement
"""


@dataclass(frozen=True)
class Settled:
    """The state a failed run left, as every report of it says it."""

    committed: list[dict[str, str]]
    not_committed: list[dict[str, str]]
    catalog_before: str
    catalog_now: str  # '' when it could not be read (the server is gone)
    next_run: str = NEXT_RUN
    # False where the failure's own records are the proof (one-offs): never "nothing was changed".
    catalog_compared: bool = True

    @property
    def nothing_changed(self) -> bool:
        return (
            self.catalog_compared
            and not self.committed
            and bool(self.catalog_now)
            and self.catalog_now == self.catalog_before
        )

    def describe(self) -> str:
        if self.nothing_changed:
            return (
                f"nothing was changed (the catalog checksum equals the one before the run, "
                f"{self.catalog_before[:12]})"
            )
        parts = []
        if self.committed:
            parts.append(f"committed: {_named(self.committed)}")
        if self.not_committed:
            parts.append(f"not committed: {_named(self.not_committed)}")
        if self.catalog_compared and not self.catalog_now:
            parts.append("the catalog could not be read again to prove it (run `schemaflow drift`)")
        elif self.catalog_compared and not self.committed and self.catalog_now != self.catalog_before:
            parts.append(
                f"yet the catalog differs from the one before the run ({self.catalog_before[:12]}, now "
                f"{self.catalog_now[:12]}): a step may have committed as the connection dropped, or "
                "another session changed it; run `schemaflow drift`"
            )
        return "; ".join([*parts, self.next_run])

    def changes(self) -> list[Change]:
        """The committed steps as the history row's changes."""
        return [
            Change(action="committed", kind="one-off", name=row["sql"], detail=row["detail"])
            if row["step"] == "one-off"
            else Change(action="committed", kind="step", name=row["step"], detail=clip(row["sql"], 300))
            for row in self.committed
        ]


def settle_failure(
    url: str, plan: Plan, result: ApplyResult, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
) -> Settled:
    """Read the catalog again and sort `result.steps` into committed and not committed."""
    now = ""
    with (
        suppress(SchemaflowError, psycopg.Error, OSError),
        connect(url, autocommit=True, connect_timeout=connect_timeout) as conn,
    ):
        now = catalog_checksum_now(conn, plan)
    return Settled(
        committed=[r for r in result.steps if r["status"] == "done"],
        not_committed=[r for r in result.steps if r["status"] != "done"],
        catalog_before=plan.catalog_checksum,
        catalog_now=now,
    )


def settle_one_off_failure(
    url: str, started: datetime, failed: str, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
) -> Settled | None:
    """What a failed one-off left, from schemaflow's records: the files applied since `started` and
    the backfills with committed batches; None when the server does not answer."""
    try:
        with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
            if conn.execute("SELECT to_regclass('schemaflow.migration_backfill')").fetchone() == (None,):
                applied, partly = [], []
            else:
                applied = [r[0] for r in conn.execute(APPLIED_SINCE_SQL, (started,)).fetchall()]
                partly = conn.execute(UNFINISHED_BACKFILLS_SQL).fetchall()
    except (SchemaflowError, psycopg.Error, OSError):
        return None
    committed = [_one_off_row(name, "done") for name in applied]
    committed += [
        _one_off_row(
            f"{failed if failed.startswith(version) else version} statement {statement}",
            "partly done",
            f"backfill of {batches} batch(es), {rows} row(s) committed, not finished",
        )
        for version, statement, batches, rows in partly
    ]
    return Settled(
        committed=committed,
        not_committed=[_one_off_row(failed, "failed")],
        catalog_before="",
        catalog_now="",
        next_run=ONE_OFF_NEXT_RUN,
        catalog_compared=False,
    )


def last_failed_run(
    url: str, environment: str, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
) -> dict[str, Any] | None:
    """The environment's last history row when that run failed having committed something, else None."""
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        runs = list_runs(conn, environment, limit=1)
    if runs and runs[0]["outcome"] == "failed" and runs[0]["objects_changed"]:
        return runs[0]
    return None


def repaired(previous: dict[str, Any], steps: list[dict[str, str]]) -> str:
    """What this run finished of the work `previous` (a failed run's history row) left, for its report."""
    done = [row for row in steps if row["status"] == "done"]
    what = _named(done, details=True) if done else "nothing, the database already matched the file"
    return (
        f"run #{previous['id']} (failed, started {previous['started_at']:%Y-%m-%d %H:%M:%S %Z}, "
        f"{previous['objects_changed']} step(s) committed) had left work; this run planned against what "
        f"it left and ran: {what}"
    )


def repaired_after_dead_run(steps: list[dict[str, str]]) -> str:
    """What this run did after a run whose process died (its report left RUNNING, no history row)."""
    done = [row for row in steps if row["status"] == "done"]
    what = _named(done, details=True) if done else "nothing, the database already matched the file"
    return (
        "the run a dead process left RUNNING (settled above) could write no history row; this run "
        f"planned against what it left and ran: {what}"
    )


def settled_message(message: str, settled: Settled) -> str:
    """The error's own text (what failed), less its unproven claim, then what the run left."""
    for claim, kept in UNPROVEN_CLAIMS.items():
        message = message.replace(claim, kept)
    return f"{message}; {settled.describe()}"


def _one_off_row(name: str, status: str, detail: str = "") -> dict[str, str]:
    return {"step": "one-off", "status": status, "where": "one-off", "lock": "-", "seconds": "-",
            "lock wait (s)": "-", "attempts": "-", "sql": name, "detail": detail}  # fmt: skip


def _named(rows: list[dict[str, str]], details: bool = False) -> str:
    shown = [_label(r, details) for r in rows[:MAX_NAMED]]
    more = f" and {len(rows) - MAX_NAMED} more" if len(rows) > MAX_NAMED else ""
    return ", ".join(shown) + more


def _label(row: dict[str, str], details: bool = False) -> str:
    sql = clip(row["sql"], 80)
    if row["step"] == "one-off":  # a settled one-off names its file and what of it committed
        return f"one-off {sql}" + (f": {row['detail']}" if row.get("detail") else "")
    step = row["step"] if row["step"].startswith("one-off") else f"step {row['step']}"
    detail = row.get("detail", "") if details else ""
    return f"{step} ({sql}{': ' + detail if detail else ''})"
