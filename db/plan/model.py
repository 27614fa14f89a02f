"""A plan is data: the ordered steps that take a live database to what the master file builds.

One `Plan` object is computed once (db/plan/), rendered as text, JSON, a psql script and a Prefect
artifact from that same object (db/plan/render.py), approved by its checksum, and executed step by
step (db/deploy/). Whoever executes or approves a plan checks `catalog_checksum` first: a plan is
only valid against the catalog it was computed from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from db.catalog.snapshot import SnapshotScope


class Hazard(StrEnum):
    """What a step can do to a live database; a plan with a hazard not allowed stops before any change."""

    BLOCKS_WRITES = "blocks_writes"  # holds a lock that conflicts with INSERT/UPDATE/DELETE
    BLOCKS_READS = "blocks_reads"  # holds a lock that conflicts with SELECT (ACCESS EXCLUSIVE)
    REWRITES_TABLE = "rewrites_table"  # rewrites every row (a type change, SET UNLOGGED, ...)
    DESTROYS_DATA = "destroys_data"  # drops a table or column that holds rows
    VALIDATES_DATA = "validates_data"  # scans rows to check a constraint
    BREAKS_COMPATIBILITY = "breaks_compatibility"  # running code using an old name fails (a rename)
    FAILS_ON_DATA = "fails_on_data"  # the rows refuse it (db/plan/data_checks.py counted them)


class LockLevel(StrEnum):
    """PostgreSQL's table lock modes, weakest first (the documented level for each statement)."""

    ACCESS_SHARE = "AccessShareLock"
    ROW_SHARE = "RowShareLock"
    ROW_EXCLUSIVE = "RowExclusiveLock"
    SHARE_UPDATE_EXCLUSIVE = "ShareUpdateExclusiveLock"
    SHARE = "ShareLock"
    SHARE_ROW_EXCLUSIVE = "ShareRowExclusiveLock"
    EXCLUSIVE = "ExclusiveLock"
    ACCESS_EXCLUSIVE = "AccessExclusiveLock"

    @property
    def blocks_writes(self) -> bool:
        """SHARE and stronger conflict with ROW EXCLUSIVE, the lock every INSERT/UPDATE/DELETE takes."""
        return _LOCK_ORDER.index(self) >= _LOCK_ORDER.index(LockLevel.SHARE)

    @property
    def blocks_reads(self) -> bool:
        """Only ACCESS EXCLUSIVE conflicts with the ACCESS SHARE lock of a plain SELECT."""
        return self is LockLevel.ACCESS_EXCLUSIVE


_LOCK_ORDER = list(LockLevel)


@dataclass(frozen=True)
class RelationSize:
    """What a step costs to know before running it: the relation's size from the catalog statistics."""

    relation: str
    estimated_rows: int  # -1: unknown, the relation (or one of its chunks) has pages but was never analyzed
    bytes: int
    chunks: int | None = None  # hypertables only
    # A hypertable whose newest chunks autovacuum has not analyzed yet: how many, and the rows of the
    # others, a lower bound a reviewer can still use (estimated_rows stays -1: not known empty).
    chunks_unanalyzed: int = 0
    rows_in_analyzed_chunks: int = 0

    @property
    def rows_shown(self) -> str:
        """The estimate as a reviewer reads it: '~1,200', 'at least ~900 (2 of 31 chunks never
        analyzed)' or 'unknown (never analyzed)'."""
        if self.estimated_rows >= 0:
            return f"~{self.estimated_rows:,}"
        if self.chunks and self.chunks_unanalyzed < self.chunks:
            return (
                f"at least ~{self.rows_in_analyzed_chunks:,} "
                f"({self.chunks_unanalyzed} of {self.chunks} chunks never analyzed)"
            )
        return "unknown (never analyzed)"


@dataclass(frozen=True)
class Step:
    """One statement of a plan and everything a reviewer needs to judge it."""

    sql: str
    kind: str  # the catalog kind it acts on: table, column, index, ... (db/catalog/snapshot.py KINDS)
    name: str  # the object's name as the catalog snapshot spells it, e.g. public.podcasts.title
    action: str  # create | alter | drop | rename | replace | validate
    # False: cannot run in a transaction block (CREATE INDEX CONCURRENTLY, VALIDATE after commit,
    # an index built WITH (timescaledb.transaction_per_chunk)); it runs after the transaction commits.
    transactional: bool = True
    lock: LockLevel | None = None  # the strongest lock it takes on `relation`
    relation: str | None = None
    hazards: tuple[Hazard, ...] = ()
    reason: str = ""  # why the step exists: the difference it resolves, "inferred rename", ...
    size: RelationSize | None = None
    cause: str = ""  # the difference ("kind:name") this step resolves; the step's own object when empty
    also_locks: tuple[str, ...] = ()  # other relations locked at `lock` (a foreign key's referenced table)
    # What runs when it differs from `sql`: a password the file sets. Never rendered, logged or stored:
    # `sql` shows it as '***', and as_dict leaves this out.
    secret_sql: str = field(default="", repr=False, compare=False)

    @property
    def executed_sql(self) -> str:
        return self.secret_sql or self.sql

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["secret_sql"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        size = data.get("size")
        return cls(
            **{
                **data,
                "lock": LockLevel(data["lock"]) if data.get("lock") else None,
                "hazards": tuple(Hazard(h) for h in data.get("hazards") or ()),
                "size": RelationSize(**size) if size else None,
                "also_locks": tuple(data.get("also_locks") or ()),
            }
        )


@dataclass(frozen=True)
class Plan:
    """Ordered steps plus the two hashes that pin what they were computed from."""

    steps: tuple[Step, ...]
    schema_checksum: str  # sha256 of the master file's text
    catalog_checksum: str  # sha256 of the live catalog snapshot the plan was computed against
    mode: str = ""  # tsl | apache | plain: the schema mode of the server
    notes: tuple[str, ...] = field(default=())  # e.g. "rename of public.a to public.b was inferred"
    # Set by db/plan/database.py: the executor reads the catalog again under the migration lock.
    scope: SnapshotScope | None = field(default=None, compare=False)
    # How the plan was proven before anyone saw it (db/plan/proof.py); empty for a plan never proven.
    proof: str = field(default="", compare=False)

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def checksum(self) -> str:
        """What an approval names: the steps' SQL in order and both inputs' hashes."""
        digest = hashlib.sha256()
        for part in (self.schema_checksum, self.catalog_checksum, *(s.sql for s in self.steps)):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()

    @property
    def transactional_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.transactional)

    @property
    def online_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if not s.transactional)

    def hazards(self) -> set[Hazard]:
        return {h for s in self.steps for h in s.hazards}

    def steps_with_hazards_not_in(self, allowed: set[Hazard] | set[str]) -> list[Step]:
        """The steps a hazard gate stops on: those with at least one hazard outside `allowed`."""
        names = {str(h) for h in allowed}
        return [s for s in self.steps if any(str(h) not in names for h in s.hazards)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checksum": self.checksum,
            "schema_checksum": self.schema_checksum,
            "catalog_checksum": self.catalog_checksum,
            "mode": self.mode,
            "notes": list(self.notes),
            "proof": self.proof,
            "steps": [s.as_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            steps=tuple(Step.from_dict(s) for s in data["steps"]),
            schema_checksum=data["schema_checksum"],
            catalog_checksum=data["catalog_checksum"],
            mode=data.get("mode", ""),
            notes=tuple(data.get("notes") or ()),
            proof=data.get("proof", ""),
        )


def snapshot_checksum(snapshot: dict[str, Any]) -> str:
    """A stable hash of a catalog snapshot (db/catalog/snapshot.py): equal catalogs, equal hashes."""
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()
