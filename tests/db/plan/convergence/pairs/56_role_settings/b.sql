-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p56_app') THEN CREATE ROLE p56_app NOLOGIN; END IF;
END $$;
ALTER ROLE p56_app SET statement_timeout = '5s';
ALTER ROLE p56_app SET search_path = public, pg_temp;
