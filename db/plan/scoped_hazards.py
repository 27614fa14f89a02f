"""Hazards that say what a step does to live traffic, where the lock table alone says too little.

- An index built WITH (timescaledb.transaction_per_chunk) runs outside the plan's transaction, but
  each chunk's build holds a SHARE lock on that chunk: inserts into it wait until it is indexed, the
  newest (hot) chunk included. That is blocks_writes, scoped to one chunk at a time; the step names
  the largest chunk and its rows, which bound how long one chunk blocks.
- A table or column rename inferred from the master file keeps the rows, but running application
  code that still uses the old name fails the moment it commits: breaks_compatibility.
- A GRANT or REVOKE on a hypertable takes no table lock, and TimescaleDB applies it to every chunk:
  the step says how many.
"""

from __future__ import annotations

from dataclasses import replace

import psycopg

from db.plan.model import Hazard, Plan, Step

PER_CHUNK_OPTION = "timescaledb.transaction_per_chunk"
# The hypertable's chunk with the most rows (the planner's statistics), and how many chunks it has.
LARGEST_CHUNK_SQL = """
SELECT format('%%I.%%I', c.chunk_schema, c.chunk_name), greatest(cl.reltuples, 0)::bigint,
       count(*) OVER ()
FROM timescaledb_information.chunks c
JOIN pg_class cl ON cl.oid = format('%%I.%%I', c.chunk_schema, c.chunk_name)::regclass
WHERE format('%%I.%%I', c.hypertable_schema, c.hypertable_name)::regclass = to_regclass(%s)
ORDER BY cl.reltuples DESC
LIMIT 1
"""
CHUNK_COUNT_SQL = """
SELECT count(*) FROM timescaledb_information.chunks
WHERE format('%%I.%%I', hypertable_schema, hypertable_name)::regclass = to_regclass(%s)
"""
HAS_TIMESCALEDB_SQL = "SELECT to_regclass('timescaledb_information.chunks') IS NOT NULL"


def scope_hazards(conn: psycopg.Connection, plan: Plan) -> Plan:
    """`plan` with per-chunk index builds, inferred renames and chunk-wide grants described as such."""
    row = conn.execute(HAS_TIMESCALEDB_SQL).fetchone()
    timescaledb = bool(row and row[0])
    steps = tuple(_scoped(conn, step, timescaledb) for step in plan.steps)
    return plan if steps == plan.steps else replace(plan, steps=steps)


def _scoped(conn: psycopg.Connection, step: Step, timescaledb: bool) -> Step:
    if PER_CHUNK_OPTION in step.sql and step.relation and timescaledb:
        largest = conn.execute(LARGEST_CHUNK_SQL, (step.relation,)).fetchone()
        biggest = (
            f"; the largest of its {largest[2]} chunk(s), {largest[0]}, has ~{largest[1]:,} rows"
            if largest
            else ""
        )
        reason = (
            "blocks writes to one chunk at a time: each chunk's build holds a SHARE lock on that chunk "
            f"(inserts into it wait until it is indexed, the newest chunk included){biggest}"
        )
        return _with(step, Hazard.BLOCKS_WRITES, reason)
    if step.action == "rename" and step.kind in ("table", "column") and step.sql.startswith("ALTER TABLE"):
        return _with(
            step,
            Hazard.BREAKS_COMPATIBILITY,
            "running application code that uses the old name fails once this commits (rows are kept)",
        )
    if step.kind == "grant" and step.relation is None and timescaledb and _on_hypertable(conn, step):
        count = conn.execute(CHUNK_COUNT_SQL, (_grant_table(step),)).fetchone()
        chunks = int(count[0]) if count else 0
        reason = f"reaches the hypertable's {chunks} chunk(s): TimescaleDB applies it to each (no table lock)"
        return replace(step, reason=_joined(step.reason, reason))
    return step


def _with(step: Step, hazard: Hazard, reason: str) -> Step:
    hazards = step.hazards if hazard in step.hazards else (*step.hazards, hazard)
    return replace(step, hazards=hazards, reason=_joined(step.reason, reason))


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def _grant_table(step: Step) -> str:
    """'public.t' from a grant step's name ('table public.t role' style names end with the role)."""
    parts = step.name.split()
    return parts[1] if len(parts) > 1 and parts[0] == "table" else step.name


def _on_hypertable(conn: psycopg.Connection, step: Step) -> bool:
    table = _grant_table(step)
    try:
        count = conn.execute(CHUNK_COUNT_SQL, (table,)).fetchone()
    except psycopg.Error:
        return False
    return bool(count and count[0])
