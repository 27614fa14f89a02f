"""A schema change as a pull request makes it, for the plan-of-a-change tests: HEAD is the master file plus
a column with a default on listener_events, an index on listener_events and a CHECK, and a one-off
that renames a column (the master's CREATE TABLE says the new name, as rule 4 of the file asks).
"""

from __future__ import annotations

from pathlib import Path

from db.schema.master_file import read_schema

RENAME_ONE_OFF = "20261201000000_rename_listener_user_agent.sql"
RENAME_SQL = """-- Rename listener_events.user_agent: the dashboards call it client_user_agent.
ALTER TABLE public.listener_events RENAME COLUMN user_agent TO client_user_agent;
"""
NEW_INDEX = "idx_listener_events_session_id_time"
# The plan of a change builds in databases named like db/catalog/scratch.py's throwaways; none may remain.
LEFTOVERS_SQL = "SELECT count(*) FROM pg_database WHERE datname LIKE 'schemaflow\\_drift\\_%'"
NEW_CHECK = "listener_events_duration_within_a_day"
EDITS = (
    # The column, for fresh databases (CREATE TABLE) and existing ones (the column additions)...
    (
        "    user_agent      text,\n    ip_hash         text,\n    PRIMARY KEY (event_id, event_time)",
        "    client_user_agent text,\n    ip_hash         text,\n"
        "    listen_source   text NOT NULL DEFAULT 'app',\n    PRIMARY KEY (event_id, event_time)",
    ),
    (
        "ALTER TABLE public.podcasts ADD COLUMN IF NOT EXISTS image_url text;\n",
        "ALTER TABLE public.podcasts ADD COLUMN IF NOT EXISTS image_url text;\n"
        "ALTER TABLE public.listener_events ADD COLUMN IF NOT EXISTS listen_source text NOT NULL "
        "DEFAULT 'app';\n"
        "DO $$\nBEGIN\n"
        "    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.listener_events'::regclass\n"
        f"                   AND conname = '{NEW_CHECK}') THEN\n"
        f"        ALTER TABLE public.listener_events ADD CONSTRAINT {NEW_CHECK}\n"
        "            CHECK (duration_seconds <= 86400);\n"
        "    END IF;\nEND\n$$;\n",
    ),
    # ...and the index.
    (
        "CREATE INDEX IF NOT EXISTS idx_listener_events_timestamp ON public.listener_events (event_time);\n",
        "CREATE INDEX IF NOT EXISTS idx_listener_events_timestamp ON public.listener_events (event_time);\n"
        f"CREATE INDEX IF NOT EXISTS {NEW_INDEX} ON public.listener_events (session_id, event_time);\n",
    ),
)


def head_text() -> str:
    """The master file with the change made (each edit must find its place: the master may move on)."""
    text = read_schema()
    for old, new in EDITS:
        assert text.count(old) == 1, f"the fixture change no longer fits the master file: {old[:60]!r}"
        text = text.replace(old, new)
    return text


def write_change(base_dir: Path, head_dir: Path) -> tuple[Path, Path]:
    """BASE (the master, no one-off) and HEAD (the change, the rename one-off) in two folders."""
    base_dir.mkdir(parents=True, exist_ok=True)
    head_dir.mkdir(parents=True, exist_ok=True)
    base = base_dir / "99999999999999_master_schema.sql"
    head = head_dir / "99999999999999_master_schema.sql"
    base.write_text(read_schema())
    head.write_text(head_text())
    (head_dir / RENAME_ONE_OFF).write_text(RENAME_SQL)
    return base, head
