-- State A (the TSL lane): a hypertable with rows and no aggregate over it.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE public.plays (time timestamptz NOT NULL, episode_id integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.plays', 'time', chunk_time_interval => INTERVAL '1 day');
INSERT INTO public.plays
    SELECT timestamptz '2026-01-01 00:00+00' + i * interval '5 hours', i % 3, i FROM generate_series(1, 24) i;
