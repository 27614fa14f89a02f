"""A dry run's online index steps, rehearsed as far as they can be: the definition on an empty copy.

CREATE INDEX CONCURRENTLY (or WITH timescaledb.transaction_per_chunk) cannot run inside the dry
run's rolled-back transaction, and building it there without CONCURRENTLY would hold a SHARE lock on
the live table (every writer waits) for as long as the build reads its rows. So inside that
transaction, after its transactional steps (which may add the column the index needs), the table is
copied without rows into a temporary table (LIKE takes only ACCESS SHARE on the live table) and the
same index definition is built there: a column that does not exist, an operator class that does not
fit the type, an expression or predicate that does not parse fail here with the server's own error,
as the real run would. What an empty copy cannot show (duplicates under a UNIQUE index, the build's
time) stays "not rehearsed on the data"; db/plan/data_checks.py counts duplicates beforehand.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from db.plan.model import Step
from db.plan.statement_forms import index_on_copy, index_relation

COPY_PREFIX = "schemaflow_rehearsal_"


def rehearse_index_definition(conn: psycopg.Connection, step: Step, number: int) -> str:
    """Build `step`'s index on an empty temporary copy of its table, in the caller's transaction.

    Returns what was rehearsed, for the step's detail; raises the server's error for a definition it
    refuses. The caller's transaction is rolled back, which drops the copy.
    """
    relation = index_relation(step.sql)
    copy = f"{COPY_PREFIX}{number}"
    statement = index_on_copy(step.sql, copy)
    if relation is None or statement is None:
        return "its definition cannot be built apart from the data"
    schema, table = relation
    source = sql.Identifier(schema, table) if schema else sql.Identifier(table)
    try:
        with conn.transaction():  # a savepoint: a role without TEMP loses only this rehearsal
            conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {})").format(sql.Identifier(copy), source))
    except psycopg.errors.InsufficientPrivilege:
        return "its definition was not built: the role may not create temporary tables"
    conn.execute(statement)  # type: ignore[arg-type]  # the planner's index, re-targeted by the parser
    shown = f"{schema}.{table}" if schema else table
    return f"definition built on an empty copy of {shown}"
