-- A small schema with one object of each kind the catalog snapshot describes; the drift and catalog
-- tests use it where the full master file would only add seconds. Runs in TimescaleDB and plain mode.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'drift_test_app') THEN
        CREATE ROLE drift_test_app NOLOGIN;
    END IF;
    IF current_setting('shared_preload_libraries', true) LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END $$;
DO $$ BEGIN CREATE TYPE public.episode_status AS ENUM ('draft', 'published');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE DOMAIN public.positive_int AS integer NOT NULL CHECK (VALUE > 0);
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE TABLE IF NOT EXISTS public.tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS public.episodes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    number bigint GENERATED ALWAYS AS IDENTITY,
    title text NOT NULL,
    title_lower text GENERATED ALWAYS AS (lower(title)) STORED,
    status public.episode_status NOT NULL DEFAULT 'draft',
    duration_seconds public.positive_int,
    minutes integer CHECK (minutes > 0)
);
CREATE INDEX IF NOT EXISTS idx_episodes_tenant_id ON public.episodes (tenant_id);
CREATE INDEX IF NOT EXISTS idx_episodes_title_trgm ON public.episodes USING gin (title gin_trgm_ops);
ALTER TABLE public.episodes ENABLE ROW LEVEL SECURITY;
DO $$ BEGIN
    CREATE POLICY tenant_isolation ON public.episodes
        USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE TABLE IF NOT EXISTS public.listener_events (
    event_id uuid NOT NULL DEFAULT gen_random_uuid(),
    event_time timestamptz NOT NULL,
    tenant_id uuid NOT NULL,
    episode_id uuid NOT NULL,
    duration_seconds integer NOT NULL DEFAULT 0 CHECK (duration_seconds >= 0),
    PRIMARY KEY (event_id, event_time)
);
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('public.listener_events', 'event_time', chunk_time_interval => INTERVAL '1 day',
                                  if_not_exists => TRUE, migrate_data => TRUE);
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS idx_listener_events_timestamp ON public.listener_events (event_time DESC);

CREATE MATERIALIZED VIEW IF NOT EXISTS public.metrics_daily AS
SELECT date_trunc('day', event_time, 'UTC') AS day, tenant_id, episode_id, count(*) AS events,
       sum(duration_seconds)::bigint AS listened_seconds
FROM public.listener_events GROUP BY 1, 2, 3 WITH NO DATA;
CREATE UNIQUE INDEX IF NOT EXISTS uq_metrics_daily_key ON public.metrics_daily (tenant_id, episode_id, day);
CREATE OR REPLACE VIEW public.episode_titles WITH (security_barrier = true) AS
SELECT id, tenant_id, title FROM public.episodes;

CREATE OR REPLACE FUNCTION public.set_created_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE OR REPLACE TRIGGER trg_tenants_created_at BEFORE INSERT ON public.tenants
    FOR EACH ROW EXECUTE FUNCTION public.set_created_at();
CREATE SEQUENCE IF NOT EXISTS public.invoice_numbers AS bigint START 1000;
CREATE TABLE IF NOT EXISTS public.invoices (
    number bigint PRIMARY KEY DEFAULT nextval('public.invoice_numbers'),
    tenant_id uuid NOT NULL REFERENCES public.tenants (id)
);
ALTER SEQUENCE public.invoice_numbers OWNED BY public.invoices.number;
GRANT SELECT, INSERT ON public.tenants, public.episodes TO drift_test_app;
GRANT SELECT ON public.episode_titles TO drift_test_app;
