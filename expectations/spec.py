"""What a suite is made of, independent of GX: batches (a query asset each) and their expectations.

Suite modules build these from the expected schema and the run's window; the runner turns them into
GX assets, suites and validation definitions. Expectation objects are built lazily (GX import is slow).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Unexpected-row queries are capped: GX counts and fetches their rows, so a badly broken table
# must not be pulled into memory. A capped count reads as "at least this many".
UNEXPECTED_ROWS_LIMIT = 1000


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
    """One named expectation; `build` returns the GX expectation object (imported lazily)."""

    name: str
    build: Callable[[], Any]


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


def unexpected_rows(name: str, query: str, description: str) -> Check:
    """A check that fails when `query` (with {batch}) returns rows; the query gets a LIMIT."""

    def build() -> Any:
        import great_expectations.expectations as gxe

        return gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=f"{query.strip()} LIMIT {UNEXPECTED_ROWS_LIMIT}",
            description=description,
            meta={"check": name},
        )

    return Check(name, build)


def gx_check(name: str, expectation_class: str, **kwargs: Any) -> Check:
    """A check built from a GX expectation class name (e.g. 'ExpectColumnValuesToNotBeNull')."""

    def build() -> Any:
        import great_expectations.expectations as gxe

        return getattr(gxe, expectation_class)(meta={"check": name}, **kwargs)

    return Check(name, build)


def sql_values(rows: list[tuple]) -> str:
    """A VALUES list of string literals for embedding expected names in a check query."""

    def literal(value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    return ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
