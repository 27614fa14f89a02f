-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
CREATE TABLE IF NOT EXISTS public.zz_place (street text, city text);
CREATE TABLE IF NOT EXISTS public.customers (id integer PRIMARY KEY, home public.zz_place);
DO $$ BEGIN
    IF to_regtype('public.a_home') IS NULL THEN
        CREATE DOMAIN public.a_home AS public.zz_place CHECK ((VALUE).city IS NOT NULL);
    END IF;
END $$;
