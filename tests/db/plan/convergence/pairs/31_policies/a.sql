-- State A (the live database): a policy lost its WITH CHECK and an extra permissive policy lets one role see every row
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p31_support') THEN CREATE ROLE p31_support NOLOGIN; END IF;
END $$;

CREATE TABLE public.notes (id integer PRIMARY KEY, tenant_id integer NOT NULL);
INSERT INTO public.notes VALUES (1, 1), (2, 2);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.notes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::integer);
CREATE POLICY support_sees_all ON public.notes TO p31_support USING (true);
