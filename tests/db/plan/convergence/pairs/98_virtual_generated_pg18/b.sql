-- Desired file B (idempotent): PostgreSQL 18's VIRTUAL generated columns (attgenerated 'v').
-- A STORED column becomes VIRTUAL by a drop and an add, which puts it last: the file says so too.
CREATE TABLE IF NOT EXISTS public.episodes (
    id integer PRIMARY KEY,
    seconds integer NOT NULL,
    hours integer GENERATED ALWAYS AS (seconds / 3600) VIRTUAL,
    minutes integer GENERATED ALWAYS AS (seconds / 60) VIRTUAL
);
ALTER TABLE public.episodes ADD COLUMN IF NOT EXISTS hours integer GENERATED ALWAYS AS (seconds / 3600) VIRTUAL;
