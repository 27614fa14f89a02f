"""What each relation a step touches costs to know: estimated rows, bytes, and a hypertable's chunks.

Two queries for the whole catalog (never one per relation). A table never analyzed has reltuples -1
(unknown); when its heap has no page at all it is known empty, which lets the planner use the plain
(transactional) forms on a table nobody has written to yet.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from db.catalog.queries import NO_JIT_SQL
from db.plan.model import RelationSize

RELATION_SIZES_SQL = """
SELECT n.nspname || '.' || c.relname AS relation,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
            WHEN pg_relation_size(c.oid) = 0 THEN 0 ELSE -1 END AS rows,
       pg_total_relation_size(c.oid) AS bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'm')
"""

# A hypertable's rows live in its chunks (its own heap is always empty): the chunks' catalog
# statistics, summed; read from pg_class so that a role without access to TimescaleDB's catalog can.
# Bytes of an analyzed chunk are its pages in the catalog (heap, TOAST, indexes): asking the storage
# for each of thousands of chunks (pg_total_relation_size) cost seconds. Only a chunk never analyzed
# is measured on disk, to tell an empty one from one with rows nobody counted yet.
HYPERTABLE_SIZES_SQL = """
SELECT h.hypertable_schema || '.' || h.hypertable_name AS relation, count(c.oid) AS chunks,
       CASE WHEN bool_or(c.reltuples < 0 AND pg_relation_size(c.oid) > 0) THEN -1
            ELSE coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint END AS rows,
       coalesce(sum(CASE WHEN c.reltuples < 0 THEN pg_total_relation_size(c.oid)
                         ELSE (c.relpages::bigint + coalesce(t.relpages, 0) + coalesce(ix.pages, 0))
                              * current_setting('block_size')::bigint END), 0) AS bytes,
       count(c.oid) FILTER (WHERE c.reltuples < 0 AND pg_relation_size(c.oid) > 0) AS unanalyzed,
       coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint AS analyzed_rows
FROM timescaledb_information.hypertables h
JOIN pg_namespace hn ON hn.nspname = h.hypertable_schema
JOIN pg_class hc ON hc.relnamespace = hn.oid AND hc.relname = h.hypertable_name
LEFT JOIN pg_inherits i ON i.inhparent = hc.oid
LEFT JOIN pg_class c ON c.oid = i.inhrelid
LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
LEFT JOIN LATERAL (SELECT sum(ic.relpages)::bigint AS pages FROM pg_index x
                   JOIN pg_class ic ON ic.oid = x.indexrelid WHERE x.indrelid = c.oid) ix ON true
WHERE h.hypertable_schema = ANY(%(schemas)s)
GROUP BY 1
"""
_TIMESCALEDB_SQL = "SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL"


def read_sizes(conn: psycopg.Connection, schemas: Iterable[str]) -> dict[str, RelationSize]:
    with conn.transaction():
        conn.execute(NO_JIT_SQL)
        return _read_sizes(conn, {"schemas": list(schemas)})


def _read_sizes(conn: psycopg.Connection, params: dict) -> dict[str, RelationSize]:
    sizes = {
        rel: RelationSize(rel, int(rows), int(size or 0))
        for rel, rows, size in conn.execute(RELATION_SIZES_SQL, params).fetchall()
    }
    row = conn.execute(_TIMESCALEDB_SQL).fetchone()
    if row and row[0]:
        for rel, chunks, rows, size, unanalyzed, analyzed_rows in conn.execute(
            HYPERTABLE_SIZES_SQL, params
        ).fetchall():
            sizes[rel] = RelationSize(
                rel, int(rows), int(size or 0), int(chunks), int(unanalyzed), int(analyzed_rows)
            )
    return sizes
