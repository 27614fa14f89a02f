"""What a suite is made of, independent of GX: batches (a query asset each) and their expectations.

Suite modules build these from the expected schema and the run's window; the runner turns them into
GX assets, suites and validation definitions. Expectation objects are built lazily (GX import is slow).

Big tables are validated through an offenders batch (`offenders_query`): one scan that joins each
referenced table once, emits a flag column per cross-table rule and keeps only the rows that break
at least one check. Every check's own GX expectation then runs on those rows, so each still counts
exactly its offenders (one result per expectation), while GX, which materialises a query batch into
a temporary table, reads the big table once instead of once per metric query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Unexpected-row queries are capped: GX counts and fetches their rows, so a badly broken table
# must not be pulled into memory. A capped count reads as "at least this many".
UNEXPECTED_ROWS_LIMIT = 1000
# A failed unexpected-rows check's message names this many of its rows; the rest are only counted.
SHOWN_ROWS = 5


@dataclass(frozen=True)
class RunOptions:
    """What a run validates: the recent window (days) or everything, and the server's mode."""

    window_days: int = 7
    full: bool = False
    mode: str = "apache"  # 'tsl' | 'apache' | 'plain'
    refresh_lag: str = "1 day"  # how far metrics_daily may trail the raw events

    def window_filter(self, column: str) -> str:
        """A WHERE condition on `column` for the window, or TRUE when validating everything."""
        if self.full:
            return "TRUE"
        return f"{column} > now() - interval '{int(self.window_days)} days'"


@dataclass(frozen=True)
class Check:
    """One named expectation; `build` returns the GX expectation object (imported lazily).

    `offends` is the SQL condition (over the offenders query's aliases) true for a row this check
    fails on; offenders_query() keeps a row when any check's condition holds.
    """

    name: str
    build: Callable[[], Any]
    offends: str | None = None
    flag: str | None = None  # the offenders query's column holding `offends`, for flag checks
    # Unexpected-rows checks: their query (with {batch}) and how one of its rows reads in a message,
    # a str.format template over the row's columns; None lists every column as name=value.
    query: str | None = None
    row_text: str | None = None


@dataclass
class Batch:
    """A query asset and the expectations validated against it."""

    asset: str
    query: str
    checks: list[Check] = field(default_factory=list)


@dataclass
class SuiteSpec:
    """One concern: its batches, or the reason it does not apply to this server."""

    name: str
    batches: list[Batch] = field(default_factory=list)
    not_applicable: str | None = None


def unexpected_rows(name: str, query: str, description: str, row_text: str | None = None) -> Check:
    """A check that fails when `query` (with {batch}) returns rows; the query gets a LIMIT.

    `{batch}` must carry an alias (`{batch} AS b`): a failed check's rows are read with the batch's
    own query in its place (expectations/runner.py). `row_text` names what one row says is wrong,
    e.g. "{table_name}.{column_name} ({problem})".
    """

    def build() -> Any:
        import great_expectations.expectations as gxe

        return gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=capped(query),
            description=description,
            meta={"check": name, "counts_rows": True},
        )

    return Check(name, build, query=query, row_text=row_text)


def capped(query: str) -> str:
    """An unexpected-rows query with the LIMIT GX runs it with."""
    return f"{query.strip()} LIMIT {UNEXPECTED_ROWS_LIMIT}"


def gx_check(
    name: str, expectation_class: str, *, offends: str | None = None, meta: dict | None = None, **kwargs: Any
) -> Check:
    """A check built from a GX expectation class name (e.g. 'ExpectColumnValuesToNotBeNull')."""

    def build() -> Any:
        import great_expectations.expectations as gxe

        return getattr(gxe, expectation_class)(meta={"check": name, **(meta or {})}, **kwargs)

    return Check(name, build, offends)


def flag_check(name: str, flag: str, condition: str, description: str) -> Check:
    """A cross-table rule as a flag column of the offenders query: the flag is never true."""
    check = gx_check(
        name,
        "ExpectColumnValuesToNotBeInSet",
        offends=f"({condition})",
        column=flag,
        value_set=[True],
        description=description,
    )
    return Check(check.name, check.build, check.offends, flag)


def no_rows_check(name: str, description: str) -> Check:
    """The batch itself lists offenders (e.g. buckets that disagree): it must be empty."""
    return gx_check(
        name, "ExpectTableRowCountToEqual", value=0, description=description, meta={"counts_rows": True}
    )


def offenders_query(columns: list[str], source: str, window: str, checks: list[Check]) -> str:
    """SELECT the checks' columns and flags FROM `source` WHERE `window` AND some check is broken.

    Flag columns are the flag checks' conditions; `columns` are plain `alias.column` references.
    """
    flags = [f"{c.offends} AS {c.flag}" for c in checks if c.flag]
    offending = "\n    OR ".join(c.offends for c in checks if c.offends)
    select = ",\n       ".join([*columns, *flags])
    return f"SELECT {select}\nFROM {source}\nWHERE {window}\n  AND ({offending})"


def sql_values(rows: list[tuple]) -> str:
    """A VALUES list of string literals for embedding expected names in a check query."""

    def literal(value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    return ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
