-- State A (the live database): someone granted the application role a hypertable's chunks (no row security there)
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE ROLE p61_app NOLOGIN;
CREATE TABLE public.events (time timestamptz NOT NULL, tenant integer NOT NULL, seconds integer NOT NULL);
SELECT create_hypertable('public.events', 'time', chunk_time_interval => INTERVAL '1 day');
INSERT INTO public.events
    SELECT timestamptz '2026-01-01 00:00+00' + i * interval '6 hours', i % 3, i FROM generate_series(1, 20) i;
GRANT SELECT (time, tenant) ON public.events TO p61_app;
DO $$ DECLARE c regclass; BEGIN
    FOR c IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'public.events'::regclass LOOP
        EXECUTE format('REVOKE ALL ON %s FROM p61_app', c);
        EXECUTE format('GRANT SELECT, DELETE ON %s TO p61_app', c);
    END LOOP;
END $$;
