-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p20_app') THEN CREATE ROLE p20_app NOLOGIN; END IF;
END $$;

CREATE TABLE IF NOT EXISTS public.users (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL);
CREATE OR REPLACE VIEW public.user_directory AS SELECT id, name FROM public.users;
GRANT SELECT ON public.user_directory TO p20_app;
