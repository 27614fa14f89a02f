-- State A (the TSL lane): a continuous aggregate with a refresh policy counts plays per day.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE public.plays (time timestamptz NOT NULL, episode_id integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.plays', 'time', chunk_time_interval => INTERVAL '1 day');
INSERT INTO public.plays
    SELECT timestamptz '2026-01-01 00:00+00' + i * interval '5 hours', i % 3, i FROM generate_series(1, 24) i;
CREATE MATERIALIZED VIEW public.plays_daily WITH (timescaledb.continuous) AS
    SELECT time_bucket(INTERVAL '1 day', time) AS day, episode_id, count(*) AS plays
    FROM public.plays GROUP BY 1, 2 WITH NO DATA;
SELECT add_continuous_aggregate_policy('public.plays_daily', start_offset => INTERVAL '30 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
