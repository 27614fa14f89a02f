-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p46_app') THEN CREATE ROLE p46_app NOLOGIN; END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS billing;
CREATE TABLE IF NOT EXISTS billing.api_keys (key_hash text PRIMARY KEY, tenant_id integer NOT NULL, label text);
ALTER TABLE billing.api_keys ADD COLUMN IF NOT EXISTS label text;
CREATE OR REPLACE FUNCTION billing.key_tenant(text) RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, billing
    AS $$ SELECT tenant_id FROM billing.api_keys WHERE key_hash = $1 $$;
REVOKE ALL ON FUNCTION billing.key_tenant(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION billing.key_tenant(text) TO p46_app;
GRANT USAGE ON SCHEMA billing TO p46_app;
