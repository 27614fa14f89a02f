-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p35_app') THEN CREATE ROLE p35_app NOLOGIN; END IF;
END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p35_intruder') THEN CREATE ROLE p35_intruder NOLOGIN; END IF;
END $$;

CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO p35_app;
