-- Desired file B: the aggregate also sums the seconds listened (its definition changed), same policy.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE IF NOT EXISTS public.plays (time timestamptz NOT NULL, episode_id integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.plays', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
CREATE MATERIALIZED VIEW IF NOT EXISTS public.plays_daily WITH (timescaledb.continuous) AS
    SELECT time_bucket(INTERVAL '1 day', time) AS day, episode_id, count(*) AS plays, sum(seconds) AS seconds
    FROM public.plays GROUP BY 1, 2 WITH NO DATA;
SELECT add_continuous_aggregate_policy('public.plays_daily', start_offset => INTERVAL '30 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
