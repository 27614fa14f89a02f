-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p85_app') THEN CREATE ROLE p85_app NOLOGIN; END IF;
END $$;
ALTER ROLE p85_app SET work_mem = '4MB';
ALTER ROLE p85_app RESET statement_timeout;
