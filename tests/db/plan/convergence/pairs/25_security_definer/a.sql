-- State A (the live database): a SECURITY DEFINER function turned INVOKER in the database
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p25_app') THEN CREATE ROLE p25_app NOLOGIN; END IF;
END $$;

CREATE TABLE public.api_keys (key_hash text PRIMARY KEY, tenant_id integer NOT NULL);
INSERT INTO public.api_keys VALUES ('h1', 1), ('h2', 2);
CREATE FUNCTION public.tenant_for_key(text) RETURNS integer LANGUAGE sql STABLE SECURITY INVOKER
    SET search_path = pg_catalog, public
    AS $$ SELECT tenant_id FROM public.api_keys WHERE key_hash = $1 $$;
REVOKE ALL ON FUNCTION public.tenant_for_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.tenant_for_key(text) TO p25_app;
