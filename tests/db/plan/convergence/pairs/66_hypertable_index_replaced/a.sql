-- State A (the live database): a hypertable index the file defines otherwise (built chunk by chunk first, then swapped)
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE public.events (time timestamptz NOT NULL, tenant integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.events', 'time', chunk_time_interval => INTERVAL '1 day', create_default_indexes => FALSE);
INSERT INTO public.events
    SELECT timestamptz '2026-01-01 00:00+00' + i * interval '6 hours', i % 3, i FROM generate_series(1, 20) i;
ANALYZE public.events;
CREATE INDEX events_tenant_idx ON public.events (tenant);
