-- State A (the live database): row-level security switched off in the database (policy still there); the file also forces it
CREATE TABLE public.notes (id integer PRIMARY KEY, tenant_id integer NOT NULL);
INSERT INTO public.notes VALUES (1, 1), (2, 2);
CREATE POLICY tenant_isolation ON public.notes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::integer);
