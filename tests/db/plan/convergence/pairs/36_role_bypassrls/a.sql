-- State A (the live database): the application role the file declares has BYPASSRLS in the cluster (tenant isolation off)
CREATE ROLE p36_app NOLOGIN BYPASSRLS;

CREATE TABLE public.notes (id integer PRIMARY KEY, tenant_id integer NOT NULL);
INSERT INTO public.notes VALUES (1, 1);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON public.notes TO p36_app;
