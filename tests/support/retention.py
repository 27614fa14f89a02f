"""Events spread over 20 months on a migrated database, and the master file with another window."""

from __future__ import annotations

from typing import Any

import psycopg

from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema

LIMITS = {"lock_timeout": "1s", "statement_timeout": "5min", "lock_retries": 1}
WINDOW = "INTERVAL '13 months'"
# One event every 3 days for 20 months: ~200 daily chunks, ~70 of them wholly older than 13 months.
SPREAD_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    event_type, position_seconds)
SELECT now() - make_interval(days => d), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
       'l' || d, 'play', 0
FROM generate_series(0, 600, 3) AS d
"""
CHUNKS_SQL = """
SELECT chunk_name, range_end FROM timescaledb_information.chunks
WHERE hypertable_name = 'listener_events' ORDER BY range_start
"""
CUTOFF_SQL = "SELECT now() - INTERVAL '13 months'"
WRITE_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id,
                                    event_type, position_seconds)
VALUES (now(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'writer', 'play', 0)
"""


def deploy(url: str, text: str | None = None, allow_hazards: tuple[str, ...] = ()) -> Any:
    return apply_schema(
        url,
        text or read_schema(),
        environment="test",
        allow_hazards=allow_hazards,
        **LIMITS,  # type: ignore[arg-type]
    )


def with_window(window: str) -> str:
    """The master file with listener_events' window changed."""
    text = read_schema()
    old = f"('public.listener_events', {WINDOW})"
    assert old in text
    return text.replace(old, f"('public.listener_events', {window})")


def spread(url: str) -> None:
    deploy(url)
    with psycopg.connect(url) as conn:
        conn.execute(SPREAD_SQL)
        conn.commit()
        conn.execute("ANALYZE public.listener_events")  # reltuples for the plan's estimates
        conn.commit()
