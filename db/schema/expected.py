"""What the master file declares, read with pglast: tables, columns, indexes, foreign keys, hypertables.

Health checks and the GX table-shape suite compare a database against this instead of a hand-kept
list. Parsing takes milliseconds; no database is needed. Statements hidden in DO blocks (which
differ per server mode) are read with regular expressions where the parser cannot see them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pglast
from pglast import ast
from pglast.enums import ConstrType

from db.schema.master_file import read_schema

SCHEMA = "public"
METRICS_DAILY = "metrics_daily"
# metrics_daily is created per mode (a continuous aggregate or a materialized view), often through
# EXECUTE; its columns are part of the shared contract, so they are listed here.
METRICS_DAILY_COLUMNS = (
    "day", "tenant_id", "podcast_id", "episode_id", "events", "plays", "completes", "listened_seconds",
)  # fmt: skip
METRICS_DAILY_KEY = ("tenant_id", "podcast_id", "episode_id", "day")
# Type names as the parser spells them -> what to_regtype() accepts.
_SERIAL_TYPES = {"serial": "integer", "bigserial": "bigint", "smallserial": "smallint"}
_NOT_NULL_KINDS = {ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_IDENTITY}

# DO blocks, and inside them: create_hypertable() calls (direct, or over a FOREACH ... IN ARRAY
# ARRAY['a', 'b'] loop), literal ALTER TABLE ... ENABLE ROW LEVEL SECURITY, and the loop's table list.
_DO_BLOCK_RE = re.compile(r"\bDO\s+\$(\w*)\$(.*?)\$\1\$", re.IGNORECASE | re.DOTALL)
_ARRAY_RE = re.compile(r"ARRAY\s*\[([^\]]*)\]", re.IGNORECASE)
_QUOTED_NAME_RE = re.compile(r"'(\w+)'")
# create_hypertable('t', by_range('col', INTERVAL '1 day')) or the legacy
# create_hypertable('t', 'col', chunk_time_interval => INTERVAL '1 day'); the table may be a loop variable.
_HYPERTABLE_CALL_RE = re.compile(
    r"create_hypertable\s*\(\s*(?P<table>'(?:public\.)?\w+'(?:::regclass)?|[^;]*?)\s*,\s*"
    r"(?:by_range\s*\(\s*)?'(?P<column>\w+)'\s*"
    r"(?:,\s*(?:chunk_time_interval\s*=>\s*)?(?:interval\s*'(?P<i1>[^']+)'|'(?P<i2>[^']+)'\s*::\s*interval))?",
    re.IGNORECASE | re.DOTALL,
)
_RLS_RE = re.compile(
    r"alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?(?:public\.)?(\w+)\s+enable\s+row\s+level\s+security",
    re.IGNORECASE,
)
_DEFAULT_CHUNK_INTERVAL = "7 days"
# A name is a plain word or a double-quoted identifier ("Weird Table", "" inside is one quote).
_NAME = r'(\w+|"(?:[^"]|"")+")'
_INDEX_RE = re.compile(
    r"create\s+(unique\s+)?index\s+(?:concurrently\s+)?(?:if\s+not\s+exists\s+)?" + _NAME + r"\s+on\s+"
    r"(?:only\s+)?(?:public\.)?" + _NAME,
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ExpectedColumn:
    name: str
    type_name: str  # as to_regtype() reads it, e.g. 'pg_catalog.int4', 'text[]'
    not_null: bool


@dataclass(frozen=True)
class ExpectedTable:
    name: str
    columns: tuple[ExpectedColumn, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class ExpectedForeignKey:
    table: str
    columns: tuple[str, ...]
    ref_table: str

    @property
    def label(self) -> str:
        return f"{self.table}({', '.join(self.columns)}) -> {self.ref_table}"


@dataclass(frozen=True)
class ExpectedIndex:
    name: str
    table: str
    unique: bool


@dataclass(frozen=True)
class ExpectedHypertable:
    table: str
    time_column: str
    chunk_interval: str  # an interval literal, e.g. '1 day'


@dataclass
class ExpectedSchema:
    """Everything the master file declares that health and the suites check."""

    tables: dict[str, ExpectedTable] = field(default_factory=dict)
    foreign_keys: list[ExpectedForeignKey] = field(default_factory=list)
    indexes: dict[str, ExpectedIndex] = field(default_factory=dict)
    hypertables: dict[str, ExpectedHypertable] = field(default_factory=dict)
    rls_tables: set[str] = field(default_factory=set)
    value_sets: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def tenant_scoped(self) -> list[str]:
        """Tables carrying a tenant_id column, in file order."""
        return [t.name for t in self.tables.values() if "tenant_id" in t.column_names]


@lru_cache(maxsize=4)
def expected_schema(sql_text: str | None = None) -> ExpectedSchema:
    """Parse the master file (or `sql_text`) into the objects a correct database must have."""
    text = sql_text if sql_text is not None else read_schema()
    expected = ExpectedSchema()
    for raw in pglast.parse_sql(text):
        stmt: Any = raw.stmt
        if isinstance(stmt, ast.CreateStmt) and _in_schema(stmt.relation):
            _read_create_table(stmt, expected)
        elif isinstance(stmt, ast.AlterTableStmt) and _in_schema(stmt.relation):
            _read_alter_table(stmt, expected)
    # CREATE INDEX, create_hypertable() and ENABLE ROW LEVEL SECURITY may sit in DO blocks.
    for match in _INDEX_RE.finditer(text):
        unique, name, table = bool(match.group(1)), _unquoted(match.group(2)), _unquoted(match.group(3))
        expected.indexes.setdefault(name, ExpectedIndex(name, table, unique))
    _read_hypertables(text, expected)
    _read_row_level_security(text, expected)
    return expected


def _unquoted(name: str) -> str:
    """The identifier a name stands for: quotes removed, or an unquoted name folded to lower case."""
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _loop_tables(block: str, expected: ExpectedSchema) -> list[str]:
    """Known table names listed in a DO block's ARRAY[...] literals (its FOREACH loop)."""
    names = [n for array in _ARRAY_RE.findall(block) for n in _QUOTED_NAME_RE.findall(array)]
    return [n for n in names if n in expected.tables]


def _read_hypertables(text: str, expected: ExpectedSchema) -> None:
    blocks = [m.group(2) for m in _DO_BLOCK_RE.finditer(text)]
    outside = _DO_BLOCK_RE.sub(" ", text)
    for block in [*blocks, outside]:
        for call in _HYPERTABLE_CALL_RE.finditer(block):
            literal = _QUOTED_NAME_RE.fullmatch(
                call.group("table").replace("public.", "").replace("::regclass", "")
            )
            tables = [literal.group(1)] if literal else _loop_tables(block, expected)
            chunk = call.group("i1") or call.group("i2") or _DEFAULT_CHUNK_INTERVAL
            for table in tables:
                expected.hypertables.setdefault(table, ExpectedHypertable(table, call.group("column"), chunk))


def _read_row_level_security(text: str, expected: ExpectedSchema) -> None:
    expected.rls_tables.update(m.group(1) for m in _RLS_RE.finditer(text))
    for match in _DO_BLOCK_RE.finditer(text):
        block = match.group(2)
        if re.search(r"enable\s+row\s+level\s+security", block, re.IGNORECASE) and "format(" in block:
            expected.rls_tables.update(_loop_tables(block, expected))


def _in_schema(relation: Any) -> bool:
    return relation.schemaname in (None, SCHEMA)


def _type_name(type_name: Any) -> str:
    names = [n.sval for n in type_name.names]
    base = names[-1] if names[-1] in _SERIAL_TYPES else ".".join(names)
    base = _SERIAL_TYPES.get(base, base)
    return base + ("[]" if type_name.arrayBounds else "")


def _read_create_table(stmt: Any, expected: ExpectedSchema) -> None:
    table = stmt.relation.relname
    columns: list[ExpectedColumn] = []
    primary_key: tuple[str, ...] = ()
    for element in stmt.tableElts or ():
        if isinstance(element, ast.ColumnDef):
            kinds = {c.contype for c in element.constraints or ()}
            not_null = bool(kinds & _NOT_NULL_KINDS)
            name = str(element.colname)
            columns.append(ExpectedColumn(name, _type_name(element.typeName), not_null))
            for constraint in element.constraints or ():
                if constraint.contype == ConstrType.CONSTR_PRIMARY:
                    primary_key = (name,)
                _read_constraint(table, constraint, expected, column=name)
        elif isinstance(element, ast.Constraint):
            if element.contype == ConstrType.CONSTR_PRIMARY:
                primary_key = tuple(k.sval for k in element.keys or ())
            _read_constraint(table, element, expected)
    # Primary-key columns are NOT NULL whether or not the file says so.
    columns = [ExpectedColumn(c.name, c.type_name, c.not_null or c.name in primary_key) for c in columns]
    expected.tables[table] = ExpectedTable(table, tuple(columns), primary_key)


def _read_alter_table(stmt: Any, expected: ExpectedSchema) -> None:
    """ADD CONSTRAINT and ADD COLUMN (the file's "column additions" section)."""
    table_name = stmt.relation.relname
    for cmd in stmt.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd):
            continue
        if isinstance(cmd.def_, ast.Constraint):
            _read_constraint(table_name, cmd.def_, expected)
        elif isinstance(cmd.def_, ast.ColumnDef) and table_name in expected.tables:
            element = cmd.def_
            table = expected.tables[table_name]
            if element.colname in table.column_names:
                continue
            kinds = {c.contype for c in element.constraints or ()}
            column = ExpectedColumn(
                str(element.colname), _type_name(element.typeName), bool(kinds & _NOT_NULL_KINDS)
            )
            expected.tables[table_name] = ExpectedTable(
                table_name, (*table.columns, column), table.primary_key
            )
            for constraint in element.constraints or ():
                _read_constraint(table_name, constraint, expected, column=element.colname)


def _read_constraint(
    table: str, constraint: Any, expected: ExpectedSchema, column: str | None = None
) -> None:
    if constraint.contype == ConstrType.CONSTR_FOREIGN and _in_schema(constraint.pktable):
        columns = tuple(a.sval for a in constraint.fk_attrs or ()) or ((column,) if column else ())
        expected.foreign_keys.append(ExpectedForeignKey(table, columns, constraint.pktable.relname))
    elif constraint.contype == ConstrType.CONSTR_CHECK and constraint.raw_expr is not None:
        _read_value_set(table, constraint.raw_expr, expected)


def _read_value_set(table: str, expr: Any, expected: ExpectedSchema) -> None:
    """Record `col IN ('a', 'b')` checks: the allowed values GX validates against."""
    if not isinstance(expr, ast.A_Expr) or not isinstance(expr.rexpr, (tuple, list)):
        return
    if not isinstance(expr.lexpr, ast.ColumnRef):
        return
    fields: Any = expr.lexpr.fields
    column = str(fields[-1].sval)
    values: list[str] = []
    for item in expr.rexpr:
        const = item.arg if isinstance(item, ast.TypeCast) else item
        if not isinstance(const, ast.A_Const) or not isinstance(const.val, ast.String):
            return
        values.append(str(const.val.sval))
    expected.value_sets[(table, column)] = tuple(values)
