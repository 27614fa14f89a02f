-- Desired file B (idempotent, like the master file).
CREATE OR REPLACE FUNCTION public.current_tenant_id() RETURNS integer LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::integer $$;
CREATE TABLE IF NOT EXISTS public.notes (id integer PRIMARY KEY, tenant_id integer NOT NULL, body text);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'notes' AND policyname = 'tenant_isolation') THEN
        CREATE POLICY tenant_isolation ON public.notes USING (tenant_id = public.current_tenant_id());
    END IF;
END $$;
