-- State A (the live database): the database has a schema the file does not: an empty copy of api_keys and a SECURITY DEFINER function granted to the app role
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p47_app') THEN CREATE ROLE p47_app NOLOGIN; END IF;
END $$;

CREATE TABLE public.api_keys (key_hash text PRIMARY KEY, tenant_id integer NOT NULL);
INSERT INTO public.api_keys VALUES ('h1', 1);
CREATE SCHEMA shadow;
CREATE TABLE shadow.api_keys (LIKE public.api_keys INCLUDING ALL);
CREATE FUNCTION shadow.all_keys() RETURNS SETOF public.api_keys LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT * FROM public.api_keys $$;
GRANT USAGE ON SCHEMA shadow TO p47_app;
GRANT EXECUTE ON FUNCTION shadow.all_keys() TO p47_app;
