-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p32_app') THEN CREATE ROLE p32_app NOLOGIN; END IF;
END $$;

CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, title text);
CREATE TABLE IF NOT EXISTS public.secrets (id integer PRIMARY KEY, token text);
GRANT SELECT, INSERT, UPDATE ON public.episodes TO p32_app;
REVOKE ALL ON public.secrets FROM p32_app;
