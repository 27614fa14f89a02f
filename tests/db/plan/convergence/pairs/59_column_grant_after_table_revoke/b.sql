-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p59_app') THEN CREATE ROLE p59_app NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.api_keys (id integer PRIMARY KEY, label text, secret text);
REVOKE ALL ON public.api_keys FROM p59_app;
GRANT SELECT (id, label) ON public.api_keys TO p59_app;
