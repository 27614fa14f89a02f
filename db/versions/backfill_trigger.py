"""The row trigger that applies a batched backfill's SET to rows written while the backfill runs.

A sweep alone never converges on a busy table: a pass over a million rows takes longer than the
gap between two inserts, so every pass finds the rows written during the one before. For the
duration of the backfill a BEFORE INSERT OR UPDATE trigger on the table (a hypertable passes it
to every chunk, including chunks created later) applies the UPDATE's SET to each row written
that matches its WHERE, exactly as the UPDATE would have, had the row existed; the backfill's
own batches skip it (the transaction-local setting below). It is created before the first batch
and dropped once a pass from the start finds no matching row; a killed or unconverged run leaves
it in place, so rows written until the next run are still caught.

Creating and dropping it take ShareRowExclusiveLock for a catalog change only (no scan), under
the environment's lock_timeout and retried with db/deploy's backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg
from pglast import ast, parse_sql
from pglast.stream import RawStream
from psycopg import sql

from db.errors import ConfigError

if TYPE_CHECKING:
    from db.versions.backfill import BatchedUpdate

# Set for the backfill's own batches, whose rows the trigger need not look at again.
SKIP_SETTING = "schemaflow.backfilling"
SKIP_SQL = f"SELECT set_config('{SKIP_SETTING}', 'on', true)"
TRIGGER_EXISTS_SQL = "SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s"
FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION schemaflow.{function}() RETURNS trigger LANGUAGE plpgsql AS {body}
"""
BODY = """
DECLARE
    changed record;
BEGIN
    IF current_setting('{skip}', true) = 'on' THEN
        RETURN NEW;
    END IF;
    SELECT {values} INTO changed FROM (SELECT (NEW).*) AS {qualifier} WHERE {where};
    IF FOUND THEN
{assignments}
    END IF;
    RETURN NEW;
END
"""
CREATE_TRIGGER_SQL = (
    "CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW "
    "EXECUTE FUNCTION schemaflow.{function}()"
)
# The SET and WHERE planned once against the table's columns: a column the trigger could not
# resolve fails here, before the trigger exists, never in the application's next insert.
CHECK_SQL = "SELECT {values} FROM (SELECT * FROM {table} LIMIT 0) AS {qualifier} WHERE {where}"
VALUE_ALIAS = "sf_value_{}"


def trigger_names(version: str, index: int) -> tuple[str, str]:
    """(trigger, function) for one UPDATE of one one-off file."""
    return f"schemaflow_backfill_{version}_{index}", f"backfill_{version}_{index}"


def set_columns(statement: str, file_name: str) -> list[tuple[str, str]]:
    """(column, expression) of each SET item; ConfigError for a form the trigger cannot apply."""
    stmt = parse_sql(statement)[0].stmt
    assert isinstance(stmt, ast.UpdateStmt)
    columns = []
    for target in stmt.targetList or ():
        assert isinstance(target, ast.ResTarget)
        if isinstance(target.val, ast.MultiAssignRef | ast.SetToDefault) or target.indirection:
            raise ConfigError(
                f"{file_name}: a batched UPDATE sets each column to one expression "
                f"(not {RawStream()(target)!r})",
                hint="write SET a = ..., b = ... with plain column names and no DEFAULT",
            )
        assert target.val is not None  # the parser always sets a SET item's value
        columns.append((str(target.name), RawStream()(target.val)))
    return columns


def install_trigger(
    conn: psycopg.Connection,
    parts: BatchedUpdate,
    columns: list[tuple[str, str]],
    names: tuple[str, str],
    retry: Callable[[Callable[[], None]], None],
) -> bool:
    """Create the function and, unless a previous run left it, the trigger; True when created now."""
    trigger, function = names
    values = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(sql.SQL(expr), sql.Identifier(VALUE_ALIAS.format(n)))
        for n, (_, expr) in enumerate(columns)
    )
    qualifier, where, table = sql.Identifier(parts.qualifier), sql.SQL(parts.where), sql.SQL(parts.table)
    conn.execute(sql.SQL(CHECK_SQL).format(values=values, table=table, qualifier=qualifier, where=where))
    assignments = "\n".join(
        sql.SQL("        NEW.{} := changed.{};")
        .format(sql.Identifier(column), sql.Identifier(VALUE_ALIAS.format(n)))
        .as_string(conn)
        for n, (column, _) in enumerate(columns)
    )
    body = BODY.format(
        skip=SKIP_SETTING,
        values=values.as_string(conn),
        qualifier=qualifier.as_string(conn),
        where=parts.where,
        assignments=assignments,
    )
    created = False

    def create() -> None:
        nonlocal created
        conn.execute(sql.SQL(FUNCTION_SQL).format(function=sql.Identifier(function), body=sql.Literal(body)))
        if conn.execute(TRIGGER_EXISTS_SQL, (parts.table, trigger)).fetchone() is None:
            conn.execute(
                sql.SQL(CREATE_TRIGGER_SQL).format(
                    trigger=sql.Identifier(trigger), table=table, function=sql.Identifier(function)
                )
            )
            created = True

    retry(create)
    return created


def drop_trigger(
    conn: psycopg.Connection, table: str, names: tuple[str, str], retry: Callable[[Callable[[], None]], None]
) -> None:
    """Drop the trigger and its function when present (a finished backfill's leftover too)."""
    trigger, function = names
    if conn.execute(TRIGGER_EXISTS_SQL, (table, trigger)).fetchone() is None:
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS schemaflow.{}()").format(sql.Identifier(function)))
        return

    def drop() -> None:
        conn.execute(
            sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(trigger), sql.SQL(table))
        )
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS schemaflow.{}()").format(sql.Identifier(function)))

    retry(drop)
