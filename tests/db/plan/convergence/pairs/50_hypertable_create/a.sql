-- State A (the live database): a plain table with rows is a hypertable in the file (create_hypertable, migrate_data)
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE public.listener_events (time timestamptz NOT NULL, episode_id integer NOT NULL, seconds integer NOT NULL);
INSERT INTO public.listener_events
    SELECT timestamptz '2026-01-01 00:00+00' + i * interval '6 hours', i % 3, i FROM generate_series(1, 20) i;
