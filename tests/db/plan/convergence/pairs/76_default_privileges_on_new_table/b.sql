-- Desired file B (idempotent, like the master file): the new table is created before the default privileges.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p76_reader') THEN CREATE ROLE p76_reader NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
CREATE TABLE IF NOT EXISTS public.payouts (id integer PRIMARY KEY, cents bigint);
GRANT SELECT ON public.payouts TO p76_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, UPDATE ON TABLES TO p76_reader;
