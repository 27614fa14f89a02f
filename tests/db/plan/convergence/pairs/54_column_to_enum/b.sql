-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    CREATE TYPE public.episode_status AS ENUM ('draft', 'published');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, status public.episode_status NOT NULL);
