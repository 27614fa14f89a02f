-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
CREATE OR REPLACE FUNCTION public.is_slug(value text) RETURNS boolean LANGUAGE sql IMMUTABLE
    AS $$ SELECT value ~ '^[a-z0-9-]+$' $$;
DO $$ BEGIN
    IF to_regtype('public.a_slug') IS NULL THEN
        CREATE DOMAIN public.a_slug AS text CHECK (public.is_slug(VALUE));
    END IF;
END $$;
