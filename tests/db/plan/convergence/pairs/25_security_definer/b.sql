-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p25_app') THEN CREATE ROLE p25_app NOLOGIN; END IF;
END $$;

CREATE TABLE IF NOT EXISTS public.api_keys (key_hash text PRIMARY KEY, tenant_id integer NOT NULL);
CREATE OR REPLACE FUNCTION public.tenant_for_key(text) RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT tenant_id FROM public.api_keys WHERE key_hash = $1 $$;
REVOKE ALL ON FUNCTION public.tenant_for_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.tenant_for_key(text) TO p25_app;
