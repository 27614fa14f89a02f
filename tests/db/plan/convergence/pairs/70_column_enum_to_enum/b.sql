-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF to_regtype('public.mood_v1') IS NULL THEN CREATE TYPE public.mood_v1 AS ENUM ('happy', 'sad'); END IF;
    IF to_regtype('public.mood_v2') IS NULL THEN CREATE TYPE public.mood_v2 AS ENUM ('happy', 'sad', 'meh'); END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.reviews (id integer PRIMARY KEY, mood public.mood_v2 NOT NULL);
