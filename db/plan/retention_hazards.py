"""A step that shrinks a retention window destroys data: say so, with what it would remove.

The master file declares the windows in `public.retention_windows()` (a VALUES list of constants);
in tsl mode each also becomes a retention policy. A step that (re)creates that function, or a
retention policy, with a window shorter than the live one deletes the events in between on the next
enforcement, so it carries destroys_data and its reason says how many rows and chunks, and which time
range, the new window would remove. The figures come from the catalog: chunk ranges and
pg_class.reltuples on hypertables, the planner's estimate (EXPLAIN, nothing is run) on plain tables.
No row is scanned. A window that grows, or a shorter one that would remove nothing that exists now,
is no hazard.

The new windows are read by running the function's body (constants only: one VALUES or SELECT,
checked with PostgreSQL's parser) in a read-only transaction on the live database; nothing is created.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pglast
import psycopg
from pglast import ast
from psycopg import sql

from db.errors import ConfigError
from db.plan.model import Hazard, Plan, Step
from db.schema.retention import DECLARED_SQL, TIME_COLUMN, WINDOWS_FUNCTION

RETENTION_JOB = "policy_retention"
LIVE_WINDOWS_SQL = "SELECT w.table_name, w.keep_for::text FROM public.retention_windows() w"
READ_BODY = "SELECT w.t, w.k::text FROM ({}) AS w(t, k)"
LIVE_POLICIES_SQL = """
SELECT format('%I.%I', hypertable_schema, hypertable_name), config ->> 'drop_after'
FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'
"""
HAS_JOBS_SQL = "SELECT to_regclass('timescaledb_information.jobs') IS NOT NULL"
SHORTER_SQL = "SELECT %s::interval < %s::interval, now() - %s::interval"
CUTOFF_SQL = "SELECT now() - %s::interval"
EXISTS_SQL = "SELECT to_regclass(%s) IS NOT NULL"
# Catalog statistics only: known empty (reltuples 0), and the lowest event_time ANALYZE saw.
PLAIN_STATS_SQL = """
SELECT (SELECT reltuples = 0 FROM pg_class WHERE oid = %(table)s::regclass),
       (SELECT (histogram_bounds::text::timestamptz[])[1] FROM pg_stats
        WHERE schemaname = %(schema)s AND tablename = %(name)s AND attname = %(column)s)
"""
# What the new window's cutoff would remove from a hypertable: its whole chunks ending before it.
CHUNKS_BEFORE_SQL = """
SELECT count(*), coalesce(sum(greatest(cl.reltuples, 0)), 0)::bigint,
       count(*) FILTER (WHERE cl.reltuples < 0), min(c.range_start), max(c.range_end)
FROM timescaledb_information.chunks c
JOIN pg_class cl ON cl.oid = format('%%I.%%I', c.chunk_schema, c.chunk_name)::regclass
WHERE format('%%I.%%I', c.hypertable_schema, c.hypertable_name)::regclass = %(table)s::regclass
  AND c.range_end <= %(cutoff)s
"""
HAS_HYPERTABLES_SQL = "SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL"
IS_HYPERTABLE_SQL = """
SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
               WHERE format('%%I.%%I', hypertable_schema, hypertable_name)::regclass = %s::regclass)
"""
EXPLAIN_OLD_ROWS = "EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} WHERE {column} < %(cutoff)s"
_DROP_AFTER = re.compile(r"drop_after => INTERVAL '([^']*)'")

# The plain table's statistics were taken after its last writes (n_mod_since_analyze = 0).
FRESH_STATISTICS_SQL = """
SELECT coalesce(s.n_mod_since_analyze = 0 AND greatest(s.last_analyze, s.last_autoanalyze) IS NOT NULL, false)
FROM pg_stat_user_tables s WHERE s.relid = to_regclass(%s)
"""


@dataclass(frozen=True)
class Removal:
    """What a window would remove now, from the catalog."""

    table: str
    old: str | None  # the live window (None: none declared)
    new: str
    cutoff: datetime
    rows: int
    chunks: int | None  # None: a plain table
    unanalyzed: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    counted: bool = True  # False: no rows to count (no live database) or statistics too stale to trust

    def describe(self) -> str:
        before = f"from {self.old}" if self.old else "where none was declared"
        if not self.counted:
            what = (
                f"every row older than {self.cutoff:%Y-%m-%d %H:%M %Z} (how many is not known here: "
                "no live database's statistics, or statistics older than the table's last writes)"
            )
        elif self.chunks is None:
            what = f"~{self.rows:,} row(s) older than {self.cutoff:%Y-%m-%d %H:%M %Z}"
        else:
            span = (
                f" ({self.oldest:%Y-%m-%d} to {self.newest:%Y-%m-%d})" if self.oldest and self.newest else ""
            )
            what = (
                f"{self.chunks} chunk(s){span} with {estimated_rows(self.rows, self.unanalyzed, self.chunks)}"
            )
        return (
            f"retention of {self.table} shrinks to {self.new} {before}: the next enforcement deletes {what}"
        )


def estimated_rows(rows: int, unanalyzed: int, chunks: int) -> str:
    """The statistics' row count of `chunks` chunks, never "~0" for chunks never analyzed (reltuples -1
    says nothing about their rows)."""
    if not unanalyzed:
        return f"~{rows:,} row(s)"
    if unanalyzed >= chunks:
        return f"an unknown number of rows (none of the {chunks} chunk(s) analyzed yet)"
    return f"~{rows:,} row(s) in the analyzed ones and an unknown number in {unanalyzed} never analyzed"


def retention_hazards(conn: psycopg.Connection, plan: Plan, *, rows_known: bool = True) -> Plan:
    """`plan` with destroys_data (and the counts) on each step that shrinks a retention window.

    `rows_known` False (a database built for the plan, holding no rows): every shrink is the hazard,
    without counts, since a false "nothing to delete" is data loss and a false alarm is a review."""
    steps = tuple(_checked(conn, step, rows_known) for step in plan.steps)
    return plan if steps == plan.steps else replace(plan, steps=steps)


def _checked(conn: psycopg.Connection, step: Step, rows_known: bool) -> Step:
    if step.kind == "function" and step.name == WINDOWS_FUNCTION and step.action in ("create", "replace"):
        new = windows_in_definition(conn, step.sql)
    elif step.kind == "job" and step.action == "create" and step.name.endswith(f".{RETENTION_JOB}"):
        found = _DROP_AFTER.search(step.sql)
        new = {step.name.rsplit(".", 1)[0]: found.group(1)} if found else {}
    else:
        return step
    live = _live_windows(conn)
    removals = [
        r
        for table, window in sorted(new.items())
        if (r := _removal(conn, table, live.get(table), window, rows_known))
    ]
    if not removals:
        return step
    reason = "; ".join(r.describe() for r in removals)
    hazards = step.hazards if Hazard.DESTROYS_DATA in step.hazards else (*step.hazards, Hazard.DESTROYS_DATA)
    return replace(step, hazards=hazards, reason=f"{step.reason}; {reason}" if step.reason else reason)


def windows_in_definition(conn: psycopg.Connection, definition: str) -> dict[str, str]:
    """{table: window} as the CREATE FUNCTION text would declare them, read without creating anything."""
    body = _body(definition)
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute("SET LOCAL statement_timeout = '5s'")
        try:
            rows = conn.execute(sql.SQL(READ_BODY).format(sql.SQL(body))).fetchall()  # type: ignore[arg-type]
        except psycopg.errors.DataError as error:
            raise ConfigError(
                f"{WINDOWS_FUNCTION} declares a window PostgreSQL cannot read: {error}",
                hint="declare each window as an interval constant, e.g. INTERVAL '13 months'",
            ) from None
    return {str(t): str(k) for t, k in rows}


def _body(definition: str) -> str:
    """The function's body, refused unless it is one query that reads nothing (constants only)."""
    statement = pglast.parse_sql(definition)[0].stmt
    body = (
        next((o.arg[0].sval for o in statement.options or () if o.defname == "as"), None)
        if isinstance(statement, ast.CreateFunctionStmt)
        else None
    )
    parsed = pglast.parse_sql(body) if body else ()
    if len(parsed) != 1 or not _constants_only(parsed[0].stmt):
        raise ConfigError(
            f"{WINDOWS_FUNCTION} in the master file is not one VALUES list of constants, so the planner "
            "cannot read the windows it declares",
            hint="keep its body as VALUES ('public.t', INTERVAL '13 months'), ... (see the file's comment)",
        )
    return body  # type: ignore[return-value]


def _constants_only(stmt: ast.Node | None) -> bool:
    """One VALUES list (or one SELECT list) of literals, each perhaps cast: the body is run on the target
    to read it, so nothing that calls a function or reads a table may pass (UNION, subqueries, FROM)."""
    if not isinstance(stmt, ast.SelectStmt) or stmt.fromClause or stmt.larg or stmt.rarg or stmt.withClause:
        return False
    if stmt.valuesLists:
        cells = [cell for row in stmt.valuesLists for cell in (row.items if hasattr(row, "items") else row)]
    else:
        cells = [target.val for target in stmt.targetList or ()]
    return bool(cells) and all(_literal(cell) for cell in cells)


def _literal(node: object) -> bool:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return isinstance(node, ast.A_Const)


def _live_windows(conn: psycopg.Connection) -> dict[str, str]:
    """The windows in force: a table's retention policy (tsl) first, else the declared window."""
    declared = conn.execute(DECLARED_SQL).fetchone()
    live = (
        {str(t): str(k) for t, k in conn.execute(LIVE_WINDOWS_SQL).fetchall()}
        if declared and declared[0]
        else {}
    )
    jobs = conn.execute(HAS_JOBS_SQL).fetchone()
    if jobs and jobs[0]:
        live.update({str(t): str(k) for t, k in conn.execute(LIVE_POLICIES_SQL).fetchall() if k})
    return live


def _removal(
    conn: psycopg.Connection, table: str, old: str | None, new: str, rows_known: bool
) -> Removal | None:
    """What `new` would remove where it is shorter than `old` (None: unbounded); None when it grows."""
    if not _one(conn, EXISTS_SQL, (table,)):
        return None
    if old is None:
        cutoff = _one(conn, CUTOFF_SQL, (new,))
    else:
        shorter, cutoff = conn.execute(SHORTER_SQL, (new, old, new)).fetchone() or (False, None)
        if not shorter:
            return None
    # Two queries: a plain server has no timescaledb_information to name in one.
    if _one(conn, HAS_HYPERTABLES_SQL, ()) and _one(conn, IS_HYPERTABLE_SQL, (table,)):
        chunks, rows, unanalyzed, oldest, newest = conn.execute(
            CHUNKS_BEFORE_SQL, {"table": table, "cutoff": cutoff}
        ).fetchone() or (0, 0, 0, None, None)
        removal = Removal(table, old, new, cutoff, int(rows), int(chunks), int(unanalyzed), oldest, newest)
    else:
        rows = _estimated_old_rows(conn, table, cutoff)
        # An estimate of 0 from statistics older than the table's last writes proves nothing.
        fresh = rows > 0 or bool(_one(conn, FRESH_STATISTICS_SQL, (table,)))
        removal = Removal(table, old, new, cutoff, rows, None, counted=fresh and rows_known)
    if not rows_known:
        return replace(removal, counted=False)
    # The hazard is to rows that exist now: a shorter window over younger data deletes nothing.
    return removal if removal.rows or removal.chunks or not removal.counted else None


def _one(conn: psycopg.Connection, query: str, params: tuple) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]  # the named constants above
    return row[0] if row else None


def _estimated_old_rows(conn: psycopg.Connection, table: str, cutoff: datetime) -> int:
    """The planner's estimate of the rows before `cutoff`: 0 when the statistics say none are."""
    schema, name = table.split(".", 1)
    empty, lowest = conn.execute(
        PLAIN_STATS_SQL, {"table": table, "schema": schema, "name": name, "column": TIME_COLUMN}
    ).fetchone() or (
        False,
        None,
    )
    # EXPLAIN never estimates fewer than one row: the histogram's lowest bound tells "none" apart.
    if empty or (lowest is not None and lowest >= cutoff):
        return 0
    query = sql.SQL(EXPLAIN_OLD_ROWS).format(
        table=sql.Identifier(schema, name), column=sql.Identifier(TIME_COLUMN)
    )
    plan = _one(conn, query, {"cutoff": cutoff})  # type: ignore[arg-type]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"]) if plan else 0
