"""Deterministic demo and test data for the master schema, generated inside the database.

The SQL lives in db/sql/seed.sql, split into named steps; each step runs with client-side
parameters (seed, tenants, events, days, anchor). The same parameters give the same rows, and a
second run adds nothing.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import ClientCursor

from db.deploy.metrics import metrics_daily_refresh
from db.errors import ConfigError
from db.progress import Progress, ProgressEvent, reporter

SEED_SQL = Path(__file__).resolve().parents[1] / "sql" / "seed.sql"
# What a parallel worker's own session needs before it can insert its slice of listener_events.
_WORKER_STEPS = ("helpers", "listener_setup", "listener_events")
# A worker inserts its slice of listener_events this many rows per statement (in its one transaction),
# so the rows done so far can be reported while it runs.
SEED_BATCH_ROWS = 25_000
_STEP_MARK = re.compile(r"^-- step: (\w+)\s*$", re.MULTILINE)

# The tables seed-data fills, in the order the steps fill them.
SEEDED_TABLES = (
    "plans",
    "tenants",
    "tenant_settings",
    "tenant_quotas",
    "subscriptions",
    "invoices",
    "users",
    "user_email_preferences",
    "user_metrics",
    "api_keys",
    "podcasts",
    "episodes",
    "sponsors",
    "campaigns",
    "campaign_placements",
    "tracking_links",
    "promo_codes",
    "deals",
    "partnerships",
    "referrals",
    "webhooks",
    "data_exports",
    "audit_log",
    "webhook_deliveries",
    "listener_events",
    "attribution_events",
)


@dataclass
class SeedReport:
    """Rows inserted per table, and seconds per step (for the benchmark printout)."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def total_seconds(self) -> float:
        """Seconds spent in steps (parallel workers counted once, by wall clock)."""
        return self.elapsed or sum(self.seconds.values())


def load_steps(path: Path = SEED_SQL) -> list[tuple[str, str]]:
    """The seed file as (step name, SQL text) pairs, in file order."""
    text = path.read_text(encoding="utf-8")
    parts = _STEP_MARK.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def default_anchor() -> datetime:
    """The end of the generated period: the start of the current hour, UTC (never in the future)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def validate_scale(*, tenants: int, events: int, days: int, seed: int) -> None:
    """Reject scales the generator cannot honour, with a message that says the allowed range."""
    if not 1 <= tenants <= 100_000:
        raise ConfigError(f"--tenants must be between 1 and 100000, got {tenants}")
    if not 0 <= events <= 200_000_000:
        raise ConfigError(f"--events must be between 0 and 200000000, got {events}")
    if not 1 <= days <= 3650:
        raise ConfigError(f"--days must be between 1 and 3650, got {days}")
    if not 0 <= seed <= 1_000_000:
        raise ConfigError(f"--seed must be between 0 and 1000000, got {seed}")


def seed_report(
    conn: psycopg.Connection,
    *,
    tenants: int = 3,
    events: int = 10_000,
    days: int = 30,
    seed: int = 1,
    anchor: datetime | None = None,
) -> SeedReport:
    """Generate the data in one transaction on `conn` and return rows and timings per step."""
    params = _params(tenants=tenants, events=events, days=days, seed=seed, anchor=anchor)
    report = SeedReport()
    with conn.transaction():
        _run_steps(conn, load_steps(), dict(params, **_slice(0, events)), report)
    return report


def seed_database(
    url: str,
    *,
    tenants: int = 3,
    events: int = 10_000,
    days: int = 30,
    seed: int = 1,
    anchor: datetime | None = None,
    workers: int = 2,
    progress: Progress | None = None,
) -> SeedReport:
    """Like seed_report, but the bulk of listener_events is inserted by `workers` connections at once.

    One transaction first writes everything else plus a sparse subset of the events (which creates
    every chunk, so the workers never wait on each other's chunk creation) and commits; then each
    worker inserts its slice of the remaining events in its own transaction. Not all-or-nothing: if
    a worker fails, seed a fresh database again. The listener events inserted so far go to
    `progress` (else to db.progress's listeners) after every SEED_BATCH_ROWS.
    """
    from db.connection.connect import connect

    notify = reporter(progress)
    notify(ProgressEvent("seed", note="tenants, podcasts, users and the other tables"))

    begun = time.perf_counter()
    params = _params(tenants=tenants, events=events, days=days, seed=seed, anchor=anchor)
    stride = max(1, events // (days * 24)) if workers > 1 else 0
    report = SeedReport()
    with connect(url) as conn, conn.transaction():
        _run_steps(conn, load_steps(), dict(params, **_slice(0, events, stride, sparse=True)), report)
    if stride <= 1 or report.rows.get("listener_events", 0) == 0:
        report.elapsed = time.perf_counter() - begun
        notify(ProgressEvent("seed", done=sum(report.rows.values()), unit="rows", finished=True))
        return report  # everything is in, or this seed was loaded before
    steps = [step for step in load_steps() if step[0] in _WORKER_STEPS]
    setup = [step for step in steps if step[0] != "listener_events"]
    insert = [step for step in steps if step[0] == "listener_events"]
    bounds = [events * k // workers for k in range(workers + 1)]
    done = [report.rows.get("listener_events", 0)]
    done_lock = threading.Lock()
    notify(ProgressEvent("seed", done=done[0], total=events, unit="rows", note="listener_events"))

    def insert_slice(lo: int, hi: int) -> SeedReport:
        part = SeedReport()
        with connect(url) as worker, worker.transaction():
            _run_steps(worker, setup, dict(params, **_slice(lo, hi, stride, sparse=False, guard=False)), part)
            for start in range(lo, hi, SEED_BATCH_ROWS):
                batch = SeedReport()
                end = min(hi, start + SEED_BATCH_ROWS)
                _run_steps(worker, insert, dict(params, **_slice(start, end, stride, guard=False)), batch)
                rows = batch.rows.get("listener_events", 0)
                part.rows["listener_events"] = part.rows.get("listener_events", 0) + rows
                part.seconds["listener_events"] = part.seconds.get("listener_events", 0.0) + sum(
                    batch.seconds.values()
                )
                with done_lock:
                    done[0] += rows
                    notify(
                        ProgressEvent("seed", done=done[0], total=events, unit="rows", note="listener_events")
                    )
        return part

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(insert_slice, bounds[:-1], bounds[1:]))
    report.rows["listener_events"] += sum(p.rows.get("listener_events", 0) for p in parts)
    report.seconds["listener_events_parallel"] = time.perf_counter() - started
    report.elapsed = time.perf_counter() - begun
    notify(ProgressEvent("seed", done=done[0], total=events, unit="rows", finished=True))
    return report


def seed_data(
    conn: psycopg.Connection,
    *,
    tenants: int = 3,
    events: int = 10_000,
    days: int = 30,
    seed: int = 1,
    anchor: datetime | None = None,
) -> dict[str, int]:
    """Generate deterministic, invariant-respecting data; return the rows inserted per table."""
    return seed_report(conn, tenants=tenants, events=events, days=days, seed=seed, anchor=anchor).rows


def _params(*, tenants: int, events: int, days: int, seed: int, anchor: datetime | None) -> dict:
    validate_scale(tenants=tenants, events=events, days=days, seed=seed)
    return {
        "seed": seed,
        "tenants": tenants,
        "events": events,
        "days": days,
        "anchor": anchor or default_anchor(),
    }


def _slice(lo: int, hi: int, stride: int = 0, *, sparse: bool = False, guard: bool = True) -> dict:
    """Which listener events a run inserts: lo <= i < hi, thinned by stride (see seed.sql)."""
    return {"lo": lo, "hi": hi, "stride": stride, "sparse": sparse, "guard": guard}


def _run_steps(
    conn: psycopg.Connection, steps: list[tuple[str, str]], params: dict, report: SeedReport
) -> None:
    with ClientCursor(conn) as cur:
        # The owner bypasses row-level security anyway; this makes the seed work under FORCE too.
        cur.execute("SET LOCAL row_security = off")
        for name, body in steps:
            started = time.perf_counter()
            cur.execute(body, params)
            while cur.nextset():  # a step may hold several statements; its INSERT comes last
                pass
            report.seconds[name] = time.perf_counter() - started
            if name in SEEDED_TABLES:
                report.rows[name] = max(cur.rowcount, 0)


def refresh_metrics_daily(conn: psycopg.Connection) -> str | None:
    """Bring metrics_daily up to date after a commit; return the statement run (None if no view).

    Needs an autocommit connection: a continuous aggregate's refresh refuses a transaction block.
    """
    found = metrics_daily_refresh(conn)
    if found is None:
        return None
    conn.execute(found[1])
    return found[1]
