"""One-off folders for the tests: a copy of the master file (changed to the end state) plus one-offs.

Never the repository's db/migrations/: that folder holds the real master alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from db.local.seed import seed_database
from db.schema.master_file import read_schema

RENAME = "20261201090000_rename_episode_audio_url.sql"
RETYPE = "20261201090100_widen_episode_season_number.sql"
BACKFILL = "20261201090200_backfill_listened_minutes.sql"

RENAME_SQL = """-- Rename episodes.audio_url to media_url (the master file then uses media_url).
SET lock_timeout = '1s';
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.episodes'::regclass
               AND attname = 'audio_url' AND NOT attisdropped) THEN
        ALTER TABLE public.episodes RENAME COLUMN audio_url TO media_url;
    END IF;
END $$;
-- schemaflow: down
ALTER TABLE public.episodes RENAME COLUMN media_url TO audio_url;
"""
RETYPE_SQL = """-- season_number integer -> bigint (rewrites episodes, a small table).
-- schemaflow: destroys-data acknowledged: rewrites the small episodes table; values are kept
ALTER TABLE public.episodes ALTER COLUMN season_number TYPE bigint;
-- schemaflow: down
ALTER TABLE public.episodes ALTER COLUMN season_number TYPE integer;
"""
BACKFILL_SQL = """-- A new column on listener_events, filled in batches without blocking the ingest path.
-- schemaflow: batch {batch}
ALTER TABLE public.listener_events ADD COLUMN IF NOT EXISTS listened_minutes integer;
ALTER TABLE public.listener_events ALTER COLUMN listened_minutes SET DEFAULT 0;
UPDATE public.listener_events SET listened_minutes = duration_seconds / 60 WHERE listened_minutes IS NULL;
-- schemaflow: down
ALTER TABLE public.listener_events DROP COLUMN IF EXISTS listened_minutes;
"""
NEW_COLUMN = (
    "\nALTER TABLE public.listener_events ADD COLUMN IF NOT EXISTS listened_minutes integer DEFAULT 0;\n"
)


def end_state_master(*, rename: bool = True, retype: bool = True, backfill: bool = True) -> str:
    """The master file as it reads once the one-offs are merged: media_url, bigint, listened_minutes."""
    text = read_schema()
    if rename:
        text = text.replace("    audio_url       text,\n", "    media_url       text,\n", 1)
    if retype:
        text = text.replace("    season_number   integer CHECK", "    season_number   bigint CHECK", 1)
    if backfill:
        text += NEW_COLUMN
    return text


def migrations_folder(
    root: Path, master: str, *, batch: int = 50_000, files: tuple[str, ...] = (RENAME, RETYPE, BACKFILL)
) -> Path:
    """A folder with `master` as the master file and the named one-offs."""
    folder = root / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "99999999999999_master_schema.sql").write_text(master, encoding="utf-8")
    texts = {RENAME: RENAME_SQL, RETYPE: RETYPE_SQL, BACKFILL: BACKFILL_SQL.format(batch=batch)}
    for name in files:
        (folder / name).write_text(texts[name], encoding="utf-8")
    return folder


# Copies listener_events' seeded rows with new keys and shifted times: many rows in seconds.
GROW_EVENTS_SQL = """
INSERT INTO public.listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id,
       session_id, event_type, position_seconds, duration_seconds, platform, country_code)
SELECT e.event_time - make_interval(secs => g * 7), e.tenant_id, e.podcast_id, e.episode_id,
       e.listener_id || '-' || g, e.session_id, e.event_type, e.position_seconds, e.duration_seconds,
       e.platform, e.country_code
FROM public.listener_events e CROSS JOIN generate_series(1, %s) AS g
"""


def populate(url: str, *, events: int, seeded: int = 50_000) -> int:
    """Seed the database (db/local/seed.py), grow listener_events to at least `events`; return its count."""
    clock = time.monotonic()
    seed_database(url, tenants=3, events=min(events, seeded), days=30, workers=2)
    with psycopg.connect(url, autocommit=True) as conn:
        if events > seeded:
            conn.execute(GROW_EVENTS_SQL, (-(-events // seeded) - 1,))
        conn.execute("UPDATE public.episodes SET audio_url = 'https://cdn.example/' || id")
        conn.execute("ANALYZE public.listener_events")
        row = conn.execute("SELECT count(*) FROM public.listener_events").fetchone()
    count = int(row[0]) if row else 0
    print(f"\npopulated {count} events in {time.monotonic() - clock:.1f} s")
    return count
