-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (
    id integer PRIMARY KEY,
    title text NOT NULL,
    duration_seconds integer NOT NULL DEFAULT 0
);
ALTER TABLE public.episodes ADD COLUMN IF NOT EXISTS duration_seconds integer NOT NULL DEFAULT 0;
