"""Health of data retention: nothing kept beyond its window, and the enforcement actually running.

- retention_window: each declared table's oldest data is within its window plus one schedule interval
  (and, on hypertables, one chunk: whole chunks are dropped). Hypertables are read from chunk ranges
  (catalog only); a plain table needs min(event_time), a scan that plain mode's sizes allow.
- retention_enforced: tsl, a scheduled retention policy with the declared window on each table;
  apache/plain, an enforce-retention run recorded within one schedule interval plus its lag, unless
  nothing has reached the window yet.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql

from db.deploy.health_check import HealthCheck
from db.deploy.retention import SCHEDULE_INTERVAL, SCHEDULE_LAG
from db.schema.retention import DECLARED_SQL, TIME_COLUMN

MIGRATE_FIX = "run `schemaflow migrate --env ENV`: the master file declares the windows"
ENFORCE_FIX = (
    "schemaflow enforce-retention --env ENV (and check the schedule of the enforce-retention-ENV deployment)"
)
WINDOWS_SQL = """
SELECT w.table_name, w.keep_for::text, now() - w.keep_for AS cutoff,
       now() - w.keep_for - %(interval)s::interval - %(lag)s::interval AS limit_
FROM public.retention_windows() w WHERE to_regclass(w.table_name) IS NOT NULL ORDER BY 1
"""
# The oldest chunk's start, less nothing: a chunk lives until its end passes the cutoff, so the limit
# allows one chunk interval more (its dimension's interval, from the catalog).
OLDEST_CHUNK_SQL = """
SELECT min(c.range_start), max(d.time_interval)
FROM timescaledb_information.dimensions d
LEFT JOIN timescaledb_information.chunks c
       ON c.hypertable_schema = d.hypertable_schema AND c.hypertable_name = d.hypertable_name
WHERE format('%%I.%%I', d.hypertable_schema, d.hypertable_name)::regclass = %s::regclass
"""
HAS_HYPERTABLES_SQL = "SELECT to_regclass('timescaledb_information.dimensions') IS NOT NULL"
OLDEST_ROW = "SELECT min({column}) FROM {table}"
POLICY_SQL = """
SELECT (config ->> 'drop_after')::interval = %(keep)s::interval, scheduled
FROM timescaledb_information.jobs
WHERE proc_name = 'policy_retention' AND format('%%I.%%I', hypertable_schema, hypertable_name) = %(table)s
"""
LAST_RUN_SQL = """
SELECT max(finished_at), max(finished_at) >= now() - %(interval)s::interval - %(lag)s::interval
FROM schemaflow.retention_runs WHERE table_name = %(table)s
"""
RUNS_TABLE_SQL = "SELECT to_regclass('schemaflow.retention_runs') IS NOT NULL"


def check_retention(conn: psycopg.Connection, mode: str) -> list[HealthCheck]:
    """The two retention checks for the database behind `conn` (mode: tsl | apache | plain)."""
    if not _one(conn, DECLARED_SQL):
        detail = "no retention window is declared here (public.retention_windows() is missing)"
        return [
            HealthCheck(n, "fail", detail, MIGRATE_FIX) for n in ("retention_window", "retention_enforced")
        ]
    params = {"interval": SCHEDULE_INTERVAL, "lag": SCHEDULE_LAG}
    over: list[str] = []
    within: list[str] = []
    unenforced: list[str] = []
    enforced: list[str] = []
    for table, keep_for, cutoff, limit in conn.execute(WINDOWS_SQL, params).fetchall():
        oldest, slack = _oldest(conn, table)
        bound = limit - slack if slack else limit
        shown = f"{table} (keep {keep_for}): oldest {oldest:%Y-%m-%d %H:%M}" if oldest else f"{table}: empty"
        (over if oldest and oldest < bound else within).append(shown)
        ran, why = _enforced(conn, mode, table, keep_for, oldest is None or oldest >= cutoff)
        (enforced if ran else unenforced).append(f"{table}: {why}")
    window = (
        HealthCheck(
            "retention_window", "fail", "older than the window allows: " + "; ".join(over), ENFORCE_FIX
        )
        if over
        else HealthCheck("retention_window", "pass", "; ".join(within))
    )
    fix = MIGRATE_FIX if mode == "tsl" else ENFORCE_FIX
    job = (
        HealthCheck("retention_enforced", "fail", "; ".join(unenforced), fix)
        if unenforced
        else HealthCheck("retention_enforced", "pass", "; ".join(enforced))
    )
    return [window, job]


def _oldest(conn: psycopg.Connection, table: str) -> tuple[datetime | None, object]:
    """(the oldest data's time, the chunk interval to allow beyond the window or None)."""
    if _one(conn, HAS_HYPERTABLES_SQL):
        row = conn.execute(OLDEST_CHUNK_SQL, (table,)).fetchone()
        if row and row[1] is not None:
            return row[0], row[1]
    schema, name = table.split(".", 1)
    query = sql.SQL(OLDEST_ROW).format(column=sql.Identifier(TIME_COLUMN), table=sql.Identifier(schema, name))
    row = conn.execute(query).fetchone()
    return (row[0] if row else None), None


def _enforced(
    conn: psycopg.Connection, mode: str, table: str, keep_for: str, nothing_due: bool
) -> tuple[bool, str]:
    if mode == "tsl":
        row = conn.execute(POLICY_SQL, {"keep": keep_for, "table": table}).fetchone()
        if not row:
            return False, "no retention policy"
        same, scheduled = row
        if not same:
            return False, f"its retention policy does not drop after {keep_for}"
        return (
            (True, "retention policy scheduled") if scheduled else (False, "its retention policy is paused")
        )
    last, recent = None, False
    if _one(conn, RUNS_TABLE_SQL):
        last, recent = conn.execute(LAST_RUN_SQL, {"table": table, **_schedule()}).fetchone() or (None, False)
    if recent:
        return True, f"enforced at {last:%Y-%m-%d %H:%M}"
    if nothing_due:
        return True, "nothing has reached the window yet" + (
            f" (last enforced {last:%Y-%m-%d})" if last else ""
        )
    return False, (
        f"not enforced since {last:%Y-%m-%d %H:%M}" if last else "never enforced"
    ) + f" (schedule: every {SCHEDULE_INTERVAL}, {SCHEDULE_LAG} late at most)"


def _schedule() -> dict[str, str]:
    return {"interval": SCHEDULE_INTERVAL, "lag": SCHEDULE_LAG}


def _one(conn: psycopg.Connection, query: str) -> object:
    row = conn.execute(query).fetchone()  # type: ignore[arg-type]  # the named constants above
    return row[0] if row else None
