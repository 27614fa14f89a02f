-- Desired file B (idempotent, like the master file).
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE IF NOT EXISTS public.listener_events (time timestamptz NOT NULL, episode_id integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.listener_events', 'time', chunk_time_interval => INTERVAL '7 days',
                         if_not_exists => TRUE, migrate_data => TRUE);
