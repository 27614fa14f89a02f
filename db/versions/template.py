"""`schemaflow new-migration SLUG`: a dated one-off file from a template (lock settings, a guard, a down)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from db.errors import ConfigError
from db.versions.files import SLUG, discover_migrations, new_version

TEMPLATE = """\
-- {slug}: what this one-off changes and why. It runs once, before the master file's plan, in the
-- migrate flow (preflight, lock, backup, history, verification). Put the end state into the master
-- file in the same change: a fresh database is built from the master alone, and this file is then
-- recorded as baseline only if the master already contains its effect.
--
-- Directives (header comment only, one per line):
--   -- schemaflow: no-transaction                  statement by statement (CREATE INDEX CONCURRENTLY)
--   -- schemaflow: batch 10000                     each UPDATE ... WHERE <not yet done> in batches
--   -- schemaflow: destroys-data acknowledged: <reason>   required for a drop or a rewrite
--   -- schemaflow: locks acknowledged: <reason>   required to SET a timeout above the environment's
--                                                  or to LOCK a table IN ACCESS EXCLUSIVE MODE
--
-- Lock settings: the environment's lock_timeout and statement_timeout are set for every statement
-- (again after each one, whatever it SETs); a statement that waits longer is retried with backoff,
-- so nobody queues behind this file for long. A lower value may be SET here:
-- SET lock_timeout = '1s';

-- The guard: do nothing where the change is already made (a rerun, or a database the master built).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = 'public.my_table'::regclass
                 AND attname = 'old_name' AND NOT attisdropped) THEN
        ALTER TABLE public.my_table RENAME COLUMN old_name TO new_name;
    END IF;
END $$;

-- schemaflow: down
-- What undoes the change (schemaflow rollback --to VERSION runs it). Left empty, rollback refuses
-- this file and prints the restore command of the backup taken before it ran.
"""


def write_new_migration(slug: str, directory: Path | str | None, now: datetime | None = None) -> Path:
    """Write `<UTC timestamp>_<slug>.sql`; refuse a bad slug or a version not after the newest file."""
    if not SLUG.match(slug):
        raise ConfigError(
            f"slug {slug!r} is not lower-case letters, digits and underscores",
            hint="e.g. schemaflow new-migration rename_episode_audio_url",
        )
    files = discover_migrations(directory)
    version = new_version(now)
    newest = max((f.version for f in files), default="")
    if version <= newest:
        raise ConfigError(
            f"version {version} is not after the newest one-off {newest}",
            hint="wait a second and run it again (versions are UTC timestamps to the second)",
        )
    folder = Path(directory) if directory else files[0].path.parent if files else None
    from db.versions.files import DEFAULT_MIGRATIONS_DIR

    path = (folder or DEFAULT_MIGRATIONS_DIR) / f"{version}_{slug}.sql"
    path.write_text(TEMPLATE.format(slug=slug), encoding="utf-8")
    return path
