-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.notes (id integer PRIMARY KEY, tenant_id integer NOT NULL);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.notes FORCE ROW LEVEL SECURITY;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'notes' AND policyname = 'tenant_isolation') THEN
        CREATE POLICY tenant_isolation ON public.notes
            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::integer);
    END IF;
END $$;
