-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p37_reporting') THEN CREATE ROLE p37_reporting LOGIN; END IF;
END $$;
