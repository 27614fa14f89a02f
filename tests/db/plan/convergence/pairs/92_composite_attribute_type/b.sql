-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF to_regtype('public.span') IS NULL THEN CREATE TYPE public.span AS (starts timestamptz, ends timestamptz); END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
