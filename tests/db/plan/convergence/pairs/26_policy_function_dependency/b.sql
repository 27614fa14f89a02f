-- Desired file B (idempotent, like the master file).
CREATE OR REPLACE FUNCTION public.tenant_num() RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.tenant', true), '')::bigint $$;
CREATE TABLE IF NOT EXISTS public.documents (id integer PRIMARY KEY, owner_id bigint NOT NULL);
ALTER TABLE public.documents ENABLE ROW LEVEL SECURITY;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'documents' AND policyname = 'owner_only') THEN
        CREATE POLICY owner_only ON public.documents USING (owner_id = public.tenant_num());
    END IF;
END $$;
