-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p81_lead') THEN CREATE ROLE p81_lead NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO p81_lead WITH GRANT OPTION;
