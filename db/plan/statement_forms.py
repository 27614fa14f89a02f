"""A plan step's statement in the forms a rehearsal can run: inside a transaction, or on another table.

The planner writes online steps that PostgreSQL refuses inside a transaction block: CREATE or DROP
INDEX CONCURRENTLY, and an index built WITH (timescaledb.transaction_per_chunk). The proof
(db/plan/proof.py) applies a plan to an empty copy in a transaction that is rolled back, and a dry
run builds an online index's definition on an empty copy of its table (db/deploy/online_rehearsal.py):
both need the same statement without what only matters for a table with rows and running writers.
The catalog it leaves is the same: CONCURRENTLY and per-chunk transactions change how an index is
built, not what is built. Statements are rewritten through PostgreSQL's own parser (pglast), never
by pattern, so a quoted name that happens to read CONCURRENTLY stays as it is.
"""

from __future__ import annotations

from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream

PER_CHUNK = ("timescaledb", "transaction_per_chunk")


def in_transaction(statement: str) -> str:
    """`statement` as it can run inside a transaction block, building the same catalog objects."""
    parsed = _parsed(statement)
    changed = False
    for raw in parsed:
        node = raw.stmt
        if isinstance(node, ast.IndexStmt) and (node.concurrent or _per_chunk(node)):
            node.concurrent = False
            node.options = _without_per_chunk(node.options)
            changed = True
        elif isinstance(node, ast.DropStmt) and node.concurrent:
            node.concurrent = False
            changed = True
    if not changed:
        return statement  # the planner's own text: nothing to rewrite
    return ";\n".join(str(RawStream()(raw.stmt)) for raw in parsed if raw.stmt is not None)


def index_on_copy(statement: str, copy: str) -> str | None:
    """The CREATE INDEX of `statement` on the temporary table `copy`, in a transaction's form.

    None when the statement is not one CREATE INDEX (nothing to build on a copy). The index keeps
    no name: PostgreSQL picks one in pg_temp, so it cannot meet the live index's.
    """
    parsed = _parsed(statement)
    if len(parsed) != 1 or not isinstance(parsed[0].stmt, ast.IndexStmt):
        return None
    node = parsed[0].stmt
    node.concurrent = False
    node.if_not_exists = False
    node.idxname = None
    node.options = _without_per_chunk(node.options)
    node.relation = ast.RangeVar(schemaname="pg_temp", relname=copy, inh=True, relpersistence="t")
    return str(RawStream()(node))


def index_relation(statement: str) -> tuple[str | None, str] | None:
    """(schema, table) a single CREATE INDEX names, as the parser reads it; None for anything else."""
    parsed = _parsed(statement)
    if len(parsed) != 1 or not isinstance(parsed[0].stmt, ast.IndexStmt):
        return None
    relation = parsed[0].stmt.relation
    if relation is None or not relation.relname:
        return None
    return relation.schemaname, str(relation.relname)


def _parsed(statement: str) -> tuple[ast.RawStmt, ...]:
    """The statements, or none where pglast cannot parse them: the server, not this, judges the SQL."""
    try:
        return tuple(parse_sql(statement))
    except ParseError:
        return ()


def _per_chunk(node: ast.IndexStmt) -> bool:
    return any((o.defnamespace, o.defname) == PER_CHUNK for o in node.options or ())


def _without_per_chunk(options: tuple | None) -> tuple | None:
    kept = tuple(o for o in options or () if (o.defnamespace, o.defname) != PER_CHUNK)
    return kept or None
