-- State A (the live database): a non-public schema: a column and a SECURITY DEFINER function granted to the app role are missing
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p46_app') THEN CREATE ROLE p46_app NOLOGIN; END IF;
END $$;

CREATE SCHEMA billing;
CREATE TABLE billing.api_keys (key_hash text PRIMARY KEY, tenant_id integer NOT NULL);
INSERT INTO billing.api_keys VALUES ('h1', 1), ('h2', 2);
