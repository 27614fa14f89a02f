"""What every per-kind generator shares: the two snapshots, sizes, and one way to build a step.

A generator returns `Planned` items: a Step plus what the dependency graph (db/plan/order.py) needs to
place it (the object key, whether it removes or builds, and extra keys it needs first). Hazards are
derived here, from the lock and the relation's size, so no generator tags them by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from db.catalog.owners import MIGRATOR
from db.catalog.snapshot import PARENT
from db.plan.locks import lock_for
from db.plan.model import Hazard, RelationSize, Step
from db.plan.quoting import quote_ident

Snapshot = dict[str, dict[str, dict[str, Any]]]
DROP, BUILD, RENAME = "drop", "build", "rename"  # phases: a rename first, drops, then creates/alters


@dataclass
class Planned:
    step: Step
    key: str  # "kind:name" of the object the step acts on
    phase: str  # RENAME | DROP | BUILD
    requires: tuple[str, ...] = ()  # keys (beyond the object's own dependencies) that must be built first


@dataclass
class PlanContext:
    expected: Snapshot
    actual: Snapshot
    migrating_role: str | None = None
    sizes: dict[str, RelationSize] | None = None
    created: set[str] = field(default_factory=set)  # keys created by this plan (new, hence empty)
    cause: str = ""  # the difference being planned (set by the planner around each generator call)
    notes: list[str] = field(default_factory=list)  # what could not be planned, and why

    def role(self, name: str) -> str:
        """A role as SQL: the migrating role stands for MIGRATOR (CURRENT_USER when it is not known)."""
        if name == MIGRATOR:
            return quote_ident(self.migrating_role) if self.migrating_role else "CURRENT_USER"
        return "PUBLIC" if name in ("PUBLIC", "public", "") else quote_ident(name)

    def size(self, relation: str | None) -> RelationSize | None:
        return (self.sizes or {}).get(relation) if relation else None

    def is_new(self, relation: str) -> bool:
        return any(f"{kind}:{relation}" in self.created for kind in ("table", "matview", "cagg"))

    def populated(self, relation: str) -> bool:
        """Rows may be there: not created by this plan and not known empty (-1 reltuples: unknown)."""
        if self.is_new(relation):
            return False
        size = self.size(relation)
        return size is None or size.estimated_rows != 0

    def is_hypertable(self, relation: str) -> bool:
        return relation in self.actual.get("hypertable", {}) or relation in self.expected.get(
            "hypertable", {}
        )

    def is_partitioned(self, relation: str, side: str = "expected") -> bool:
        """A partitioned table on that side: its indexes and keys are built on each partition."""
        snap = self.expected if side == "expected" else self.actual
        return bool(snap.get("table", {}).get(relation, {}).get("relkind") == "partitioned table")

    def exists(self, relation: str) -> bool:
        return any(relation in self.actual.get(kind, {}) for kind in ("table", "view", "matview", "cagg"))

    def children(self, snap: Snapshot, kind: str, parent: str) -> list[tuple[str, dict[str, Any]]]:
        return [(n, v) for n, v in snap.get(kind, {}).items() if v.get(PARENT) == parent]

    def step(
        self,
        key: str,
        action: str,
        sql: str,
        statement: str,
        *,
        relation: str | None = None,
        phase: str = BUILD,
        transactional: bool = True,
        long_lock: bool = False,
        rewrites: bool = False,
        validates: bool = False,
        destroys: bool = False,
        requires: tuple[str, ...] = (),
        also_locks: tuple[str, ...] = (),
        reason: str = "",
    ) -> Planned:
        """One step; `statement` names its row in STATEMENT_LOCKS (db/plan/locks.py).

        blocks_writes/blocks_reads are hazards when the lock is held for as long as the relation
        takes to scan or rewrite (long_lock, rewrites, or a validating statement under a blocking
        lock) on a relation that may hold rows; a brief catalog-only lock is bounded by lock_timeout.
        """
        kind, name = key.split(":", 1)
        lock = lock_for(statement)
        hazards: list[Hazard] = []
        live = relation is not None and self.exists(relation) and self.populated(relation)
        if rewrites and live:
            hazards.append(Hazard.REWRITES_TABLE)
        if validates and live:
            hazards.append(Hazard.VALIDATES_DATA)
        if destroys and (relation is None or self.populated(relation)):
            hazards.append(Hazard.DESTROYS_DATA)
        if lock and live and (long_lock or rewrites or validates):
            if lock.blocks_writes:
                hazards.append(Hazard.BLOCKS_WRITES)
            if lock.blocks_reads:
                hazards.append(Hazard.BLOCKS_READS)
        step = Step(
            sql=sql,
            kind=kind,
            name=name,
            action=action,
            transactional=transactional,
            lock=lock if relation else None,
            relation=relation if lock else None,
            hazards=tuple(hazards),
            reason=reason,
            size=self.size(relation),
            cause=self.cause,
            also_locks=also_locks,
        )
        return Planned(step, key, phase, requires)


Create = Callable[[str, dict[str, Any], PlanContext], list[Planned]]
Drop = Callable[[str, dict[str, Any], PlanContext], list[Planned]]
# None: the object cannot be changed in place, so it is dropped and created again (with dependents).
Alter = Callable[[str, dict[str, Any], dict[str, Any], PlanContext], list[Planned] | None]


def _never(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return False


@dataclass(frozen=True)
class KindPlanner:
    """How one catalog kind creates, drops and alters itself."""

    create: Create
    drop: Drop
    alter: Alter
    # True when an in-place change still breaks what depends on the object (a column's new type:
    # views, policies and rules over it must be dropped first and created again after).
    invalidates: Callable[[dict[str, Any], dict[str, Any]], bool] = _never


def nothing(*_: Any) -> list[Planned]:
    """For kinds that come and go with their parent (a table's RLS state)."""
    return []
