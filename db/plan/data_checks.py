"""Before a plan is shown: the steps whose success depends on the rows, checked against the rows.

A plan that reads "online, hazards: none" and then fails on the data (a NOT NULL column over rows, a
UNIQUE index over duplicates, a CHECK or foreign key the rows violate, a cast that fails) has misled
its reviewer, and a migrate would have taken a backup for nothing. Each such step gets one bounded
read (SELECT only, so ACCESS SHARE locks; statement_timeout and lock_timeout set locally) that counts
the rows it would refuse and names one of them by its primary key; a refusal becomes a
`fails_on_data` hazard on the step and a note with the count and the sample key. A check that cannot
finish in time, or reads an object the plan creates first, proves nothing and adds only a note.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import psycopg
from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType
from pglast.parser import ParseError
from pglast.stream import RawStream
from psycopg import sql

from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.connection.urls import first_error_line
from db.errors import CheckFailed
from db.plan.model import Hazard, Plan, Step

CHECK_STATEMENT_TIMEOUT = "5s"
CHECK_LOCK_TIMEOUT = "1s"
PRIMARY_KEY_SQL = """
SELECT coalesce(array_agg(a.attname ORDER BY k.ord), '{}') FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass(%s) AND i.indisprimary
"""
MISSING = (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedObject)


@dataclass(frozen=True)
class Check:
    """One bounded read: what it looks for, and the query returning (count, sample key) or no row."""

    what: str  # e.g. "rows with NULL in public.episodes.rating"
    relation: str
    query: sql.Composed | None = None  # a whole query returning (count, sample), or:
    where: sql.Composable | None = None  # the rows to count in `relation` (aliased r), a key sampled


@dataclass(frozen=True)
class Finding:
    step: int
    what: str
    count: int | None  # None: the read itself failed the way the step would (a failing cast)
    sample: str

    def note(self) -> str:
        counted = f"{self.count:,} {self.what}" if self.count is not None else self.what
        sample = f" (sample key {self.sample})" if self.sample else ""
        return f"step {self.step}: fails_on_data: {counted}{sample}; the step would fail on these rows"


def check_plan_data(
    url: str,
    plan: Plan,
    *,
    statement_timeout: str = CHECK_STATEMENT_TIMEOUT,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> Plan:
    """`plan` with a fails_on_data hazard on each step the rows would refuse, and a note for each."""
    planned = [(n, step, check) for n, step in enumerate(plan.steps, 1) for check in checks_for(step)]
    if not planned:
        return plan
    findings: dict[int, list[Finding]] = {}
    notes: list[str] = []
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        for number, _, check in planned:
            finding, note = _run(conn, number, check, statement_timeout)
            if finding:
                findings.setdefault(number, []).append(finding)
                notes.append(finding.note())
            elif note:
                notes.append(note)
    steps = tuple(
        replace(step, hazards=(*step.hazards, Hazard.FAILS_ON_DATA))
        if n in findings and Hazard.FAILS_ON_DATA not in step.hazards
        else step
        for n, step in enumerate(plan.steps, 1)
    )
    return replace(plan, steps=steps, notes=(*plan.notes, *notes))


def data_failures(plan: Plan) -> list[str]:
    """The fails_on_data notes of a checked plan (what migrate names when it stops before the backup)."""
    return [note for note in plan.notes if ": fails_on_data: " in note]


def refuse_data_failures(plan: Plan, environment: str) -> None:
    """CheckFailed naming each step the rows would refuse, before a backup or any change."""
    failures = data_failures(plan)
    if failures:
        raise CheckFailed(
            f"the plan for {environment} has {len(failures)} step(s) the data would refuse; nothing was "
            "changed and no backup was taken: " + "; ".join(failures),
            hint="fix those rows, give the new column a default, or change the constraint in the master "
            "file; then run `schemaflow plan` again",
        )


def _run(
    conn: psycopg.Connection, number: int, check: Check, statement_timeout: str
) -> tuple[Finding | None, str]:
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(statement_timeout)))
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(CHECK_LOCK_TIMEOUT)))
            row = conn.execute(check.query or _count_rows(conn, check)).fetchone()
    except MISSING:
        return None, ""  # an object the plan creates before this step: it holds no rows yet
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
        return None, f"step {number}: {check.what} not checked: {first_error_line(exc)}"
    except psycopg.errors.DataError as exc:  # the cast the step makes fails on a row
        return Finding(number, f"{check.what}: {first_error_line(exc)}", None, ""), ""
    except psycopg.Error as exc:  # not about the rows (a cast no row could pass): the step says it
        return None, f"step {number}: {check.what} not checked: {first_error_line(exc)}"
    if not row or not row[0]:
        return None, ""
    return Finding(number, check.what, int(row[0]), str(row[1] or "")), ""


def _count_rows(conn: psycopg.Connection, check: Check) -> sql.Composed:
    """Count the rows `check.where` matches (aliased r), with one's primary key (its ctid without one)."""
    row = conn.execute(PRIMARY_KEY_SQL, (check.relation,)).fetchone()
    columns = list(row[0]) if row else []
    key = (
        sql.SQL(" || ', ' || ").join(
            sql.SQL("{} || '=' || r.{}::text").format(sql.Literal(c), sql.Identifier(c)) for c in columns
        )
        if columns
        else sql.SQL("'ctid=' || r.ctid::text")
    )
    schema, name = check.relation.split(".", 1)
    return sql.SQL("SELECT count(*) OVER (), {} FROM {} AS r WHERE {} LIMIT 1").format(
        key, sql.Identifier(schema, name), check.where
    )


def checks_for(step: Step) -> list[Check]:
    """The reads that tell whether the rows let `step` succeed (none for most steps)."""
    try:
        parsed = parse_sql(step.sql)
    except ParseError:
        return []
    out: list[Check] = []
    for raw in parsed:
        stmt = raw.stmt
        if isinstance(stmt, ast.IndexStmt) and stmt.unique and stmt.relation is not None:
            keys = [_index_key(e) for e in stmt.indexParams or () if isinstance(e, ast.IndexElem)]
            if keys and len(keys) == len(stmt.indexParams or ()):
                out.append(_duplicates(_rel(stmt.relation), keys, stmt.whereClause))
        elif isinstance(stmt, ast.AlterTableStmt) and stmt.relation is not None:
            rel = _rel(stmt.relation)
            cmds = [cmd for cmd in stmt.cmds or () if isinstance(cmd, ast.AlterTableCmd)]
            out += [check for cmd in cmds for check in _alter(rel, cmd)]
    return out


def _alter(rel: tuple[str, str], cmd: ast.AlterTableCmd) -> Iterator[Check]:
    column = cmd.def_ if isinstance(cmd.def_, ast.ColumnDef) else None
    if cmd.subtype == AlterTableType.AT_AddColumn and column is not None:
        kinds = {c.contype for c in column.constraints or () if isinstance(c, ast.Constraint)}
        filled = {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}
        if ConstrType.CONSTR_NOTNULL in kinds and not kinds & filled:
            what = f"row(s) of {_name(rel)} the new NOT NULL column {column.colname} (no default) leaves NULL"
            yield Check(what, _name(rel), where=sql.SQL("true"))
    elif cmd.subtype == AlterTableType.AT_SetNotNull and cmd.name:
        where = sql.SQL("r.{} IS NULL").format(sql.Identifier(cmd.name))
        yield Check(f"row(s) with NULL in {_name(rel)}.{cmd.name}", _name(rel), where=where)
    elif cmd.subtype == AlterTableType.AT_AlterColumnType and cmd.name and column and column.typeName:
        target = RawStream()(column.typeName)
        source = RawStream()(column.raw_default) if column.raw_default else None
        value = sql.SQL(source) if source else sql.Identifier(cmd.name)  # type: ignore[arg-type]
        # A row the cast refuses raises a DataError, which _run reports; else 0 (no finding).
        query = sql.SQL("SELECT 0 * count(x), NULL FROM (SELECT ({})::{} AS x FROM {}) AS s").format(
            value, sql.SQL(target), sql.Identifier(*rel)  # type: ignore[arg-type]
        )  # fmt: skip
        yield Check(f"{_name(rel)}.{cmd.name}: the cast to {target} fails", _name(rel), query=query)
    elif cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
        yield from _constraint(rel, cmd.def_)


def _constraint(rel: tuple[str, str], con: ast.Constraint) -> Iterator[Check]:
    if con.contype == ConstrType.CONSTR_CHECK and con.raw_expr is not None:
        expression = RawStream()(con.raw_expr)
        where = sql.SQL("NOT ({})").format(sql.SQL(expression))  # type: ignore[arg-type]  # the planner's SQL
        yield Check(f"row(s) of {_name(rel)} violating CHECK ({expression})", _name(rel), where=where)
    elif con.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY) and con.keys:
        yield _duplicates(rel, [(k.sval, sql.Identifier(k.sval)) for k in con.keys], None)
    elif con.contype == ConstrType.CONSTR_FOREIGN and con.pktable is not None and con.fk_attrs:
        ref = _rel(con.pktable)
        mine = [a.sval for a in con.fk_attrs]
        theirs = [a.sval for a in con.pk_attrs or ()] or mine
        present = sql.SQL(" AND ").join(sql.SQL("r.{} IS NOT NULL").format(sql.Identifier(c)) for c in mine)
        match = sql.SQL(" AND ").join(
            sql.SQL("p.{} = r.{}").format(sql.Identifier(t), sql.Identifier(m))
            for m, t in zip(mine, theirs, strict=False)
        )
        where = sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {})").format(
            present, sql.Identifier(*ref), match
        )
        what = f"row(s) of {_name(rel)} whose ({', '.join(mine)}) has no row in {_name(ref)}"
        yield Check(what, _name(rel), where=where)


def _index_key(element: ast.IndexElem) -> tuple[str, sql.Composable]:
    """An index key as (how the finding names it, the SQL that computes it per row): a column, or an
    expression such as lower(title)."""
    if element.name or element.expr is None:
        return str(element.name), sql.Identifier(str(element.name))
    expression = RawStream()(element.expr)
    return expression, sql.SQL("({})").format(sql.SQL(expression))  # type: ignore[arg-type]  # the planner's SQL


def _duplicates(
    rel: tuple[str, str], keys: list[tuple[str, sql.Composable]], predicate: ast.Node | None
) -> Check:
    """Count the groups of rows sharing a value the unique index would hold once, and give one."""
    values = sql.SQL(", ").join(value for _, value in keys)
    present = [sql.SQL("{} IS NOT NULL").format(value) for _, value in keys]
    if predicate is not None:
        present.append(sql.SQL("({})").format(sql.SQL(RawStream()(predicate))))  # type: ignore[arg-type]
    sample = sql.SQL(" || ', ' || ").join(
        sql.SQL("{} || '=' || {}::text").format(sql.Literal(label), value) for label, value in keys
    )
    query = sql.SQL(
        "SELECT count(*) OVER (), {sample} || ' (' || count(*) || ' rows)' FROM {rel} WHERE {present} "
        "GROUP BY {values} HAVING count(*) > 1 LIMIT 1"
    ).format(sample=sample, rel=sql.Identifier(*rel), present=sql.SQL(" AND ").join(present), values=values)
    labels = ", ".join(label for label, _ in keys)
    return Check(f"duplicated value(s) of ({labels}) in {_name(rel)}", _name(rel), query=query)


def _rel(range_var: ast.RangeVar) -> tuple[str, str]:
    return (range_var.schemaname or "public", str(range_var.relname))


def _name(rel: tuple[str, str]) -> str:
    return f"{rel[0]}.{rel[1]}"
