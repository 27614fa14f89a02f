"""The plan is proven before anyone sees it: applied to a schema-only copy of the live catalog.

In the scratch database (db/catalog/scratch.py), inside one transaction that is always rolled back:

1. **The copy.** The live side is rebuilt from its own snapshot by the planner's plan from the empty
   scratch database to that snapshot, then snapshotted and compared with the live snapshot. Why not
   `pg_dump --schema-only`: it does not carry TimescaleDB's metadata (a hypertable comes back as a
   plain table, a continuous aggregate as a view over an internal table, its policies as nothing),
   it needs a pg_dump matching the server and the target's password in a child's environment, and
   it dumps the chunks and their indexes too. The snapshot is what the planner and the comparison
   read, so a copy built from it is faithful in every attribute they compare, and that is checked,
   not assumed: a copy that differs from the live snapshot (an object the planner cannot build from
   nothing) refuses the proof with those objects, since a plan proven on an unfaithful copy proves
   nothing about the live database.
2. **The plan.** Its steps run on the copy in order, each in the form a transaction allows
   (db/plan/statement_forms.py: CONCURRENTLY and per-chunk builds make the same catalog objects).
3. **The comparison.** The result is snapshotted and compared with the expected side (what the
   file builds). Anything left over is a planner gap: the plan would leave the database different
   from the file while reporting success. Only what the plan deliberately left out (a drop that
   would destroy rows, named in its notes, shown with --allow-destroy) is not a gap.

Cluster-wide roles are not the database's catalog: their steps run on the copy (grants name them;
the transaction is rolled back, like the expected side's build of the file's CREATE ROLE), but role
entries are not compared. The rows a plan replays (reference rows, passwords) are not applied as
steps; when the run applies the whole file instead (metrics_daily changes form), the file runs on the
copy, rows included, and is rolled back with it. Nothing touches the target: its snapshot was read
before, under ACCESS SHARE only, and the scratch database creates and drops no database, so no
checkpoint is forced.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg

from db.catalog.capabilities import Capabilities, detect_capabilities
from db.catalog.drift import SchemaView, load_target_extension
from db.catalog.normal_form import align_spellings
from db.catalog.owners import normalise_owner
from db.catalog.scratch import ScratchSite
from db.catalog.snapshot import KINDS, NOT_COMPARED, snapshot_catalog
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line, mask_url
from db.errors import CheckFailed
from db.plan.differences import Difference, diff_catalogs
from db.plan.model import Plan, Step, snapshot_checksum
from db.plan.planner import plan_changes
from db.plan.statement_forms import in_transaction

Snapshot = dict[str, dict[str, dict[str, Any]]]
CLUSTER_KINDS = ("role", "role_membership")  # the cluster's, not the database's: not compared here


class PlanNotProven(CheckFailed):
    """The proof could not be made, so the plan is refused. Nothing was approved, backed up or changed:
    the proof runs before all three."""


class PlannerGap(PlanNotProven):
    """The plan, applied to a copy of the live catalog, does not give what the file builds (or fails).

    `rows`: the residual differences (kind, name, status, detail).
    """


@dataclass
class Proof:
    """How a plan was proven: on a copy (seconds per stage), or trivially (live already equal)."""

    scratch: str  # masked
    statements: int = 0  # the copy's and the plan's statements run in the scratch database
    timings: dict[str, float] = field(default_factory=dict)
    trivial: bool = False

    def describe(self) -> str:
        if self.trivial:
            return "proven: the live catalog already equals the expected side"
        return f"proven on a schema-only copy of the live catalog in {self.scratch}"


def prove_plan(
    plan: Plan,
    *,
    expected: Snapshot,
    live: Snapshot,
    site: ScratchSite,
    view: SchemaView,
    target: Capabilities,
    migrating_role: str,
    runs_instead: str | None = None,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> Proof:
    """Apply `plan` to a copy of `live` in the scratch database; raise PlannerGap on any residual.

    `migrating_role`: the live side's (MIGRATOR in `live`), whom the plan's SQL names as owner.
    `runs_instead`: what the run executes in place of the steps (the whole file, when metrics_daily
    changes form: db/plan/reshape.py); that is what is applied to the copy and proven.
    """
    proof = Proof(scratch=mask_url(site.url))
    expected, live = _database_part(expected), _database_part(live)
    if not _differences(expected, live):
        proof.trivial = True  # nothing applied to a faithful copy of live is live, equal to expected
        return proof
    key = _proof_key(plan, expected, live, site, target, migrating_role, runs_instead or "")
    live, invalid = _as_valid(live)
    if key in _PROVEN:
        return _PROVEN[key]
    on_copy = partial(
        _apply_on_copy, plan, expected=expected, live=live, site=site, view=view, target=target,
        migrating_role=migrating_role, runs_instead=runs_instead, connect_timeout=connect_timeout,
    )  # fmt: skip
    try:
        result = on_copy(proof, stepwise=False)
    except _ScriptFailed:
        # Once more step by step to name the step that fails, on a new connection: a savepoint
        # cannot unload the TimescaleDB library a rolled-back CREATE EXTENSION loaded into a session.
        proof = Proof(scratch=proof.scratch)
        result = on_copy(proof, stepwise=True)
    residual = [d for d in diff_catalogs(expected=expected, actual=result) if not _left_out(d, plan)]
    residual += _invalid_not_rebuilt(invalid, expected, plan)
    if residual:
        raise _gap(
            residual,
            "the plan, applied to a schema-only copy of the live catalog, does not give what the file builds",
        )
    if len(_PROVEN) >= PROVEN_KEPT:  # a long-lived worker: keep the latest few, a miss only costs time
        _PROVEN.clear()
    _PROVEN[key] = proof
    return proof


def _apply_on_copy(
    plan: Plan,
    proof: Proof,
    *,
    expected: Snapshot,
    live: Snapshot,
    site: ScratchSite,
    view: SchemaView,
    target: Capabilities,
    migrating_role: str,
    runs_instead: str | None,
    connect_timeout: int,
    stepwise: bool,
) -> Snapshot:
    """The copy, then the plan (or `runs_instead`) on it, in a rolled-back transaction: its snapshot."""
    with connect(site.url, autocommit=True, connect_timeout=connect_timeout) as conn:
        role = str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
        with conn.transaction(force_rollback=True):
            load_target_extension(conn, detect_capabilities(conn), target, site.url)
            clock = time.perf_counter()
            empty = _snapshot(conn, view, role)
            copy_plan = plan_changes(live, empty, migrating_role=role, allow_destroy=True)
            proof.statements += _run_all(conn, _applied(copy_plan), copying=True, stepwise=stepwise)
            copy = _snapshot(conn, view, role)
            align_spellings(conn, copy, live)
            proof.timings["copy of the live catalog"] = time.perf_counter() - clock
            unfaithful = diff_catalogs(expected=live, actual=copy, plan=copy_plan)
            if unfaithful:
                raise _gap(
                    unfaithful,
                    "the planner cannot rebuild the live catalog in the scratch database, so no plan "
                    "for it can be proven",
                )
            clock = time.perf_counter()
            if runs_instead is None:
                proof.statements += _run_all(conn, _applied(plan), copying=False, stepwise=stepwise)
            else:
                _run_file(conn, runs_instead)
            result = _snapshot(conn, view, role)
            # The copy's objects are the scratch role's, the plan's ALTER ... OWNER TO name the live
            # migrating role: both stand for "whoever runs the file", as in the live snapshot.
            normalise_owner(result, migrating_role)
            align_spellings(conn, result, expected)
            proof.timings["plan on the copy"] = time.perf_counter() - clock
    return result


# Proofs made in this process (a migrate plans, has the plan approved, and plans again before it
# applies): keyed by everything the outcome depends on, so a changed live catalog, file, plan,
# server or role is a new key and is proven again, never served a stale proof. Only successes.
_PROVEN: dict[str, Proof] = {}
PROVEN_KEPT = 32


def _proof_key(
    plan: Plan,
    expected: Snapshot,
    live: Snapshot,
    site: ScratchSite,
    target: Capabilities,
    role: str,
    instead: str,
) -> str:
    parts = (
        plan.checksum, snapshot_checksum(expected), snapshot_checksum(live), site.url, role,
        target.server_version, str(target.timescaledb_installed), target.mode, instead,
    )  # fmt: skip
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _as_valid(live: Snapshot) -> tuple[Snapshot, list[str]]:
    """The live side with every index an interrupted build left invalid taken as valid, and their names.

    A copy can only build valid indexes, so it cannot show one left invalid; the executor drops such
    a leftover and builds it again (db/deploy/online.py). What the proof still demands is that the
    plan has a step for each of them (_invalid_not_rebuilt): otherwise it would stay invalid.
    """
    invalid = sorted(n for n, e in live["index"].items() if e.get("valid") is False)
    if not invalid:
        return live, []
    indexes = {n: ({**e, "valid": True} if n in invalid else e) for n, e in live["index"].items()}
    return {**live, "index": indexes}, invalid


def _invalid_not_rebuilt(invalid: list[str], expected: Snapshot, plan: Plan) -> list[Difference]:
    built = {s.name for s in plan.steps if s.kind == "index"}
    detail = "valid: expected true, found false, and the plan has no step that builds it again"
    return [
        Difference("index", name, "changed", detail, "high", "")
        for name in invalid
        if name in expected["index"] and name not in built
    ]


def _database_part(snap: Snapshot) -> Snapshot:
    return {kind: ({} if kind in CLUSTER_KINDS else snap.get(kind, {})) for kind in KINDS}


def _differences(a: Snapshot, b: Snapshot) -> bool:
    def compared(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {n: {k: v for k, v in e.items() if k not in NOT_COMPARED} for n, e in entries.items()}

    return any(compared(a[kind]) != compared(b[kind]) for kind in KINDS)


def _snapshot(conn: psycopg.Connection, view: SchemaView, role: str) -> Snapshot:
    snap = snapshot_catalog(conn, view[0], exclude_schemas=view[1], migrating_role=role)
    return _database_part(snap)


def _applied(plan: Plan) -> list[Step]:
    """The steps that change a catalog: not the replayed rows or passwords (and never a secret)."""
    return [s for s in plan.steps if s.action != "replay"]


class _ScriptFailed(Exception):
    """The steps as one script failed: the proof runs again step by step to name the one that fails."""


def _run_all(conn: psycopg.Connection, steps: list[Step], *, copying: bool, stepwise: bool) -> int:
    """Run `steps` as one script (a copy of a whole catalog is hundreds of statements, and a round
    trip each was most of the proof's time), or `stepwise`, naming the step that fails."""
    if stepwise:
        for step in steps:
            _run(conn, step, copying=copying)
        return len(steps)
    script = "\n;\n".join(in_transaction(s.sql) for s in steps)  # a step may end in a -- comment
    try:
        conn.execute(script)  # type: ignore[arg-type]  # the planner's own SQL, no parameters
    except psycopg.Error as exc:
        raise _ScriptFailed(first_error_line(exc)) from None
    return len(steps)


def _run_file(conn: psycopg.Connection, text: str) -> None:
    try:
        with conn.transaction():
            conn.execute(text)  # type: ignore[arg-type]  # the trusted master file; no parameters
    except psycopg.Error as exc:
        raise PlanNotProven(
            "the plan cannot be proven: the run applies the whole schema file here (metrics_daily "
            f"changes form), and the file fails on a copy of the live catalog: {first_error_line(exc)}; "
            "the plan was not shown, approved or run, and nothing was changed",
            hint="the real run would fail the same way: fix the file (or the live object the error "
            "names) and plan again",
        ) from None


def _run(conn: psycopg.Connection, step: Step, *, copying: bool) -> None:
    try:
        conn.execute(in_transaction(step.sql))  # type: ignore[arg-type]  # the planner's own SQL
    except psycopg.Error as exc:
        statement = " ".join(step.sql.split())[:200]
        where = f"{step.action} {step.kind} {step.name} ({statement}): {first_error_line(exc)}"
        untouched = "the plan was not shown, approved or run, and nothing was changed"
        stage = "copying the live catalog into" if copying else "applying the plan to the copy in"
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            # Not the planner's fault: the role may not do in the scratch database what the live
            # catalog or the plan does (an owner it is not a member of, an untrusted extension).
            raise PlanNotProven(
                f"the plan cannot be proven: {stage} the scratch database failed at {where}; {untouched}",
                hint="the role needs in the scratch database the rights it has in the target (an admin "
                "grants it membership of the owning role, or creates the extension there once)",
            ) from None
        raise PlannerGap(
            f"planner gap: {stage} the scratch database failed at {where}; {untouched}",
            hint="report it as a planner bug with this message; until it is fixed, make the change in a "
            "one-off migration (schemaflow new-migration)",
        ) from None


def _left_out(diff: Difference, plan: Plan) -> bool:
    """A difference the plan left out on purpose (a drop that would destroy rows), as its notes say."""
    return any(n.startswith("left out:") and f"({diff.kind} {diff.name} " in n for n in plan.notes)


def _gap(residual: list[Difference], what: str) -> PlannerGap:
    names = "; ".join(f"{d.kind} {d.name} ({d.status}: {d.detail})" for d in residual)
    return PlannerGap(
        f"planner gap: {what}; {len(residual)} difference(s) remain: {names}; the plan was not "
        "shown, approved or run, and nothing was changed",
        hint="the planner cannot express this change: make it in a one-off migration (schemaflow "
        "new-migration), or report it as a planner bug with this message",
        rows=[d.as_dict() for d in residual],
    )
