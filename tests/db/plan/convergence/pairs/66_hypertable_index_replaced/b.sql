-- Desired file B (idempotent, like the master file).
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE IF NOT EXISTS public.events (time timestamptz NOT NULL, tenant integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.events', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE,
                         create_default_indexes => FALSE);
CREATE INDEX IF NOT EXISTS events_tenant_idx ON public.events (tenant, time DESC);
