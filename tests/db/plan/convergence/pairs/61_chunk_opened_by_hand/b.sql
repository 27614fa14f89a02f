-- Desired file B (idempotent, like the master file).
CREATE EXTENSION IF NOT EXISTS timescaledb;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p61_app') THEN CREATE ROLE p61_app NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.events (time timestamptz NOT NULL, tenant integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.events', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
GRANT SELECT (time, tenant) ON public.events TO p61_app;
