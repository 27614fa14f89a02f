-- State A (the live database): a hypertable's chunk_time_interval is 7 days in the database, 1 day in the file
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE public.listener_events (time timestamptz NOT NULL, episode_id integer NOT NULL, seconds integer NOT NULL);
INSERT INTO public.listener_events
    SELECT timestamptz '2026-01-01 00:00+00' + i * interval '6 hours', i % 3, i FROM generate_series(1, 20) i;
SELECT create_hypertable('public.listener_events', 'time', chunk_time_interval => INTERVAL '7 days', migrate_data => TRUE);
