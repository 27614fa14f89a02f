"""Refreshing metrics_daily inside its refresh window: the scheduled job, not a deploy's step.

Also what metrics_daily is on a server (a continuous aggregate, the table, or an older materialized
view) and the statement that rebuilds all of it, which the deploy's post-commit steps and the local
seed use.

TimescaleDB's refresh-window model, whatever the server: the UTC days from `now() - window` on are
re-aggregated from listener_events, older buckets stay as they are. In apache/plain mode that is
the master file's refresh_metrics_daily(window) (an upsert under row locks); in tsl mode the
continuous aggregate's own refresh over the same window (its policy does this hourly anyway). The
refresh-metrics flow, `schemaflow refresh-metrics` and the tests call refresh_metrics_window.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg

from db.errors import CheckFailed, ConfigError

AGGREGATE_SCHEMA, AGGREGATE_NAME = "public", "metrics_daily"
MATVIEW_SQL = """
SELECT m.ispopulated,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = format('%%I.%%I', m.schemaname, m.matviewname)::regclass
                 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL) AS has_unique_index
FROM pg_matviews m
WHERE m.schemaname = %(schema)s AND m.matviewname = %(name)s
"""
CAGG_SQL = """
SELECT 1 FROM timescaledb_information.continuous_aggregates
WHERE view_schema = %(schema)s AND view_name = %(name)s
"""
RELKIND_SQL = """
SELECT relkind::text FROM pg_class
WHERE oid = to_regclass(format('%%I.%%I', %(schema)s::text, %(name)s::text))
"""
TIMESCALEDB_INSTALLED_SQL = "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
# The table form's full rebuild (a NULL window: every day).
FULL_TABLE_REFRESH = "SELECT * FROM public.refresh_metrics_daily(NULL)"

DEFAULT_WINDOW = "3 days"
# How often the refresh-metrics deployment runs, and how late a run may be before health says stale.
DEFAULT_SCHEDULE_MINUTES = 15
DEFAULT_SCHEDULE_LAG = "1 hour"
TABLE_REFRESH_SQL = (
    "SELECT window_start, buckets_upserted, buckets_deleted FROM public.refresh_metrics_daily(%s::interval)"
)
CAGG_REFRESH_SQL = (
    "CALL refresh_continuous_aggregate(%s::regclass, date_trunc('day', now() - %s::interval, 'UTC'), NULL)"
)
CAGG_WINDOW_START_SQL = "SELECT date_trunc('day', now() - %s::interval, 'UTC')"
VALID_INTERVAL_SQL = "SELECT %s::interval > interval '0'"
_SHORT = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass
class MetricsRefresh:
    """What one windowed refresh did."""

    kind: str  # table | cagg | matview
    window: str
    window_start: datetime | None = None
    buckets_upserted: int | None = None  # the table form reports its counts; a cagg does not
    buckets_deleted: int | None = None
    seconds: float = 0.0
    statement: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_window(text: str) -> str:
    """'3d', '12h', '90m' or any PostgreSQL interval ('3 days') -> the interval text; else ConfigError."""
    match = _SHORT.match(text)
    window = f"{match.group(1)} {_UNITS[match.group(2)]}" if match else text.strip()
    if not window:
        raise ConfigError("the refresh window is empty", hint="pass e.g. --window 3d (days), 12h or 90m")
    return window


def refresh_metrics_window(
    conn: psycopg.Connection, window: str = DEFAULT_WINDOW, environment: str = "ENV"
) -> MetricsRefresh:
    """Re-aggregate metrics_daily's buckets from `now() - window` on. `conn` must be in autocommit.

    `environment` is the name the hints' commands use."""
    window = parse_window(window)
    _check_window(conn, window)
    kind = metrics_daily_kind(conn)
    if kind is None:
        raise CheckFailed(
            f"{AGGREGATE_SCHEMA}.{AGGREGATE_NAME} does not exist in this database",
            hint=f"run `schemaflow migrate --env {environment}` first: it builds metrics_daily",
        )
    report = MetricsRefresh(kind=kind, window=window)
    clock = time.monotonic()
    if kind == "table":
        report.statement = TABLE_REFRESH_SQL
        row = conn.execute(TABLE_REFRESH_SQL, (window,)).fetchone()
        if row:
            report.window_start, report.buckets_upserted, report.buckets_deleted = row
    elif kind == "cagg":
        report.statement = CAGG_REFRESH_SQL
        conn.execute(CAGG_REFRESH_SQL, (f"{AGGREGATE_SCHEMA}.{AGGREGATE_NAME}", window))
        start = conn.execute(CAGG_WINDOW_START_SQL, (window,)).fetchone()
        report.window_start = start[0] if start else None
    else:  # a materialized view from an older master file: it can only be refreshed whole
        found = metrics_daily_refresh(conn)
        report.statement = found[1] if found else ""
        if found:
            conn.execute(found[1])  # type: ignore[arg-type]  # built from the constants above
    report.seconds = round(time.monotonic() - clock, 3)
    return report


def metrics_daily_kind(conn: psycopg.Connection) -> str | None:
    """'cagg', 'table' or 'matview' (what metrics_daily is here, from the catalog); None if absent."""
    params = {"schema": AGGREGATE_SCHEMA, "name": AGGREGATE_NAME}
    if conn.execute(TIMESCALEDB_INSTALLED_SQL).fetchone() and conn.execute(CAGG_SQL, params).fetchone():
        return "cagg"
    row = conn.execute(RELKIND_SQL, params).fetchone()
    return {"r": "table", "m": "matview"}.get(row[0]) if row else None


def metrics_daily_refresh(conn: psycopg.Connection) -> tuple[str, str] | None:
    """(kind, the statement that refreshes all of metrics_daily), from the catalog; None if absent."""
    kind = metrics_daily_kind(conn)
    qualified = f"{AGGREGATE_SCHEMA}.{AGGREGATE_NAME}"
    if kind == "cagg":
        return "cagg", f"CALL refresh_continuous_aggregate('{qualified}', NULL, NULL)"
    if kind == "table":
        return "table", FULL_TABLE_REFRESH
    if kind is None:
        return None
    populated, has_unique_index = conn.execute(
        MATVIEW_SQL, {"schema": AGGREGATE_SCHEMA, "name": AGGREGATE_NAME}
    ).fetchone() or (False, False)
    # CONCURRENTLY keeps the view readable during the refresh but needs data and a unique index.
    concurrently = "CONCURRENTLY " if populated and has_unique_index else ""
    return "matview", f"REFRESH MATERIALIZED VIEW {concurrently}{qualified}"


def _check_window(conn: psycopg.Connection, window: str) -> None:
    try:
        with conn.transaction():
            row = conn.execute(VALID_INTERVAL_SQL, (window,)).fetchone()
    except psycopg.errors.DataError:
        row = None
    if not row or not row[0]:
        raise ConfigError(
            f"the refresh window {window!r} is not a positive interval",
            hint="pass e.g. --window 3d (days), 12h, 90m or '3 days'",
        )
