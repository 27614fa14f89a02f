-- Desired file B (idempotent, like the master file): the same domain, spelled with IN.
DO $$ BEGIN
    IF to_regtype('public.status') IS NULL THEN
        CREATE DOMAIN public.status AS varchar(10) CONSTRAINT status_check CHECK (VALUE IN ('draft', 'live'));
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, status public.status);
