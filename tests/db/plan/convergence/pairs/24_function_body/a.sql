-- State A (the live database): current_tenant_id()'s body changed; a policy calls it, so the change is high
CREATE FUNCTION public.current_tenant_id() RETURNS integer LANGUAGE sql STABLE
    AS $$ SELECT current_setting('app.tenant_id', true)::integer $$;

CREATE TABLE public.notes (id integer PRIMARY KEY, tenant_id integer NOT NULL, body text);
INSERT INTO public.notes VALUES (1, 1, 'x'), (2, 2, 'y');
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.notes USING (tenant_id = public.current_tenant_id());
