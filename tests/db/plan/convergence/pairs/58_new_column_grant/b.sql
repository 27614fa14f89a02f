-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p58_app') THEN CREATE ROLE p58_app NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, title text);
ALTER TABLE public.episodes ADD COLUMN IF NOT EXISTS rating integer;
GRANT SELECT (id, title, rating), UPDATE (rating) ON public.episodes TO p58_app;
