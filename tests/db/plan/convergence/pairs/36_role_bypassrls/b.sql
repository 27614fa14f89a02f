-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p36_app') THEN CREATE ROLE p36_app NOLOGIN NOBYPASSRLS; END IF;
END $$;

CREATE TABLE IF NOT EXISTS public.notes (id integer PRIMARY KEY, tenant_id integer NOT NULL);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON public.notes TO p36_app;
