-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p38_app') THEN CREATE ROLE p38_app NOLOGIN; END IF;
END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p38_admin') THEN CREATE ROLE p38_admin NOLOGIN; END IF;
END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p38_web') THEN CREATE ROLE p38_web LOGIN; END IF;
END $$;
GRANT p38_app TO p38_web;
