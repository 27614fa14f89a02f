-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p47_app') THEN CREATE ROLE p47_app NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.api_keys (key_hash text PRIMARY KEY, tenant_id integer NOT NULL);
