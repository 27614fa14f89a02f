-- Desired file B (idempotent, like the master file).
CREATE EXTENSION IF NOT EXISTS timescaledb;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p60_app') THEN CREATE ROLE p60_app NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.events (time timestamptz NOT NULL, tenant integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.events', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
ALTER TABLE public.events ADD COLUMN IF NOT EXISTS app_version text NOT NULL DEFAULT 'unknown';
GRANT SELECT (time, tenant, seconds, app_version), UPDATE (app_version) ON public.events TO p60_app;
DO $$ DECLARE c regclass; BEGIN
    FOR c IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'public.events'::regclass LOOP
        EXECUTE format('REVOKE ALL ON %s FROM p60_app', c);
    END LOOP;
END $$;
