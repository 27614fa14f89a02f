"""What a failed planned run left behind: the steps that committed, those that did not, and the proof.

An error text written where the failure happened ("rolled back, nothing was changed") cannot know
that a one-off committed before it, or that an online step's build was half done; an on-call engineer
acts on it. So after any failure of a planned run the catalog is read again and compared with the
checksum the plan was computed from: "nothing was changed" only when they are equal, otherwise the
committed steps are named, and the next run's behaviour is said (it plans against what is there).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

import psycopg

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.deploy.execute import catalog_checksum_now
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
MAX_NAMED = 10


@dataclass(frozen=True)
class Settled:
    """The state a failed run left, as every report of it says it."""

    committed: list[dict[str, str]]
    not_committed: list[dict[str, str]]
    catalog_before: str
    catalog_now: str  # '' when it could not be read (the server is gone)

    @property
    def nothing_changed(self) -> bool:
        return not self.committed and bool(self.catalog_now) and self.catalog_now == self.catalog_before

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
        if not self.catalog_now:
            parts.append("the catalog could not be read again to prove it (run `schemaflow drift`)")
        elif not self.committed and self.catalog_now != self.catalog_before:
            parts.append(
                f"yet the catalog differs from the one before the run ({self.catalog_before[:12]}, now "
                f"{self.catalog_now[:12]}): a step may have committed as the connection dropped, or "
                "another session changed it; run `schemaflow drift`"
            )
        return "; ".join([*parts, NEXT_RUN])

    def changes(self) -> list[Change]:
        """The committed steps as the history row's changes."""
        return [
            Change(action="committed", kind="step", name=row["step"], detail=row["sql"][:300])
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


def settled_message(message: str, settled: Settled) -> str:
    """The error's own text (what failed), less its unproven claim, then what the run left."""
    for claim, kept in UNPROVEN_CLAIMS.items():
        message = message.replace(claim, kept)
    return f"{message}; {settled.describe()}"


def _named(rows: list[dict[str, str]]) -> str:
    shown = [_label(r) for r in rows[:MAX_NAMED]]
    more = f" and {len(rows) - MAX_NAMED} more" if len(rows) > MAX_NAMED else ""
    return ", ".join(shown) + more


def _label(row: dict[str, str]) -> str:
    step = row["step"] if row["step"].startswith("one-off") else f"step {row['step']}"
    sql = " ".join(row["sql"].split())[:80]
    return f"{step} ({sql})"
