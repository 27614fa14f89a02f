"""Online index builds that resume: an index an interrupted build left behind is found and rebuilt.

`CREATE INDEX CONCURRENTLY` that fails or is killed leaves the index in the catalog with
pg_index.indisvalid = false; `... IF NOT EXISTS` then skips it on the next run, so the index would
stay unusable for ever while the run reports success. On a hypertable an interrupted
`WITH (timescaledb.transaction_per_chunk)` build (measured on TimescaleDB 2.19.3, Apache) leaves the
hypertable's index invalid and only the chunks built so far with their own (valid) index. Before an
online index step the executor drops such a leftover (DROP INDEX CONCURRENTLY also removes a
hypertable's chunk indexes), and after it proves the result valid on the table and on every chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from db.plan.model import Step

# The index named by a step, and its table, if it exists at all.
INDEX_STATE_SQL = """
SELECT i.indisvalid, i.indisready, t.oid::regclass::text AS table_name
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
WHERE i.indexrelid = to_regclass(format('%%I.%%I', %(schema)s::text, %(name)s::text))
"""
# For an index on a hypertable: chunks without their copy of it, and chunk copies that are invalid.
CHUNK_INDEX_STATE_SQL = """
SELECT count(*) FILTER (WHERE ci.index_name IS NULL) AS missing,
       count(*) FILTER (WHERE ci.index_name IS NOT NULL AND NOT coalesce(pi.indisvalid, false)) AS invalid,
       count(*) AS chunks
FROM _timescaledb_catalog.hypertable h
JOIN _timescaledb_catalog.chunk ch ON ch.hypertable_id = h.id AND NOT ch.dropped
LEFT JOIN _timescaledb_catalog.chunk_index ci
       ON ci.chunk_id = ch.id AND ci.hypertable_index_name = %(index_name)s::name
LEFT JOIN pg_class ic ON ic.relname = ci.index_name AND ic.relnamespace = ch.schema_name::regnamespace
LEFT JOIN pg_index pi ON pi.indexrelid = ic.oid
WHERE format('%%I.%%I', h.schema_name, h.table_name)::regclass = to_regclass(%(table)s::text)
"""
# Only asked once TIMESCALEDB_SQL said the extension (and so its catalog schema) exists.
IS_HYPERTABLE_SQL = """
SELECT EXISTS (SELECT 1 FROM _timescaledb_catalog.hypertable h
               WHERE format('%%I.%%I', h.schema_name, h.table_name)::regclass = to_regclass(%(table)s::text))
"""
TIMESCALEDB_SQL = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"


@dataclass(frozen=True)
class IndexState:
    """What the catalog says about a step's index: absent, valid, or left invalid somewhere."""

    exists: bool
    valid: bool = False
    chunks: int = 0
    chunks_missing: int = 0
    chunks_invalid: int = 0

    @property
    def complete(self) -> bool:
        return self.exists and self.valid and not self.chunks_missing and not self.chunks_invalid

    def describe(self) -> str:
        if not self.exists:
            return "absent"
        if self.complete:
            return "valid" + (f" on all {self.chunks} chunks" if self.chunks else "")
        parts = [] if self.valid else ["invalid"]
        if self.chunks_missing:
            parts.append(f"missing on {self.chunks_missing} of {self.chunks} chunks")
        if self.chunks_invalid:
            parts.append(f"invalid on {self.chunks_invalid} chunks")
        return ", ".join(parts)


def is_index_build(step: Step) -> bool:
    """An online step that builds an index (CONCURRENTLY, or per chunk on a hypertable)."""
    return step.kind == "index" and step.action == "create" and not step.transactional


def index_state(conn: psycopg.Connection, step: Step) -> IndexState:
    """The state of the index `step` builds, on its table and (for a hypertable) on every chunk."""
    schema, name = split_name(step.name)
    row = conn.execute(INDEX_STATE_SQL, {"schema": schema, "name": name}).fetchone()
    if row is None:
        return IndexState(exists=False)
    valid, ready, table = row
    state = IndexState(exists=True, valid=bool(valid and ready))
    if not _is_hypertable(conn, table):
        return state
    missing, invalid, chunks = conn.execute(
        CHUNK_INDEX_STATE_SQL, {"index_name": name, "table": table}
    ).fetchone() or (0, 0, 0)
    return IndexState(True, state.valid, int(chunks), int(missing), int(invalid))


def drop_leftover_index(conn: psycopg.Connection, step: Step) -> None:
    """Drop an incomplete index without blocking writers (the table's chunks' copies go with it)."""
    schema, name = split_name(step.name)
    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name)))


def split_name(name: str) -> tuple[str, str]:
    """('public', 'idx_x') from the catalog snapshot's spelling 'public.idx_x' (names unquoted)."""
    schema, dot, rest = name.partition(".")
    return (schema, rest) if dot else ("public", name)


def _is_hypertable(conn: psycopg.Connection, table: str) -> bool:
    has_timescaledb = conn.execute(TIMESCALEDB_SQL).fetchone()
    if not (has_timescaledb and has_timescaledb[0]):
        return False
    row = conn.execute(IS_HYPERTABLE_SQL, {"table": table}).fetchone()
    return bool(row and row[0])
