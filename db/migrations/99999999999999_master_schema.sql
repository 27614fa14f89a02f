-- =====================================================================================================
-- podcast_analytics master schema: the single source of truth for the whole database.
--
-- Rules of this file (read before editing; `schemaflow lint` enforces the mechanical ones):
--  1. It describes the END STATE and is re-run on every deploy. Every statement must be idempotent:
--     CREATE ... IF NOT EXISTS, CREATE OR REPLACE, or a DO block that checks the catalog first.
--     A second run on an up-to-date database must change nothing and lose no row.
--  2. It runs both as ONE transaction (the migrate flow) and statement by statement with
--     `psql -v ON_ERROR_STOP=1 -f`. So: no BEGIN/COMMIT, no CREATE INDEX CONCURRENTLY, no
--     continuous aggregate WITH DATA, no refresh_continuous_aggregate() here (they refuse to run in a
--     transaction block). A new metrics_daily's first refresh is a post-commit step (see below).
--  3. Adding a table: append a CREATE TABLE IF NOT EXISTS in its section, an index for every foreign
--     key, and (when it has tenant_id) its name in the tenant-isolation list near the end. A key to
--     another tenant-owned table is composite, FOREIGN KEY (tenant_id, x_id) REFERENCES x (tenant_id,
--     id), so a row can only point at its own tenant's parent (the parent declares UNIQUE (tenant_id,
--     id)); ON DELETE SET NULL names its column, SET NULL (x_id), so tenant_id is never nulled. The
--     index on x_id serves the key (id is unique on its own). Add it to the tenant-key list too.
--  4. Adding a column to an existing table: NEVER edit the CREATE TABLE alone (it is skipped on
--     databases that already have the table). Add it to the CREATE TABLE for fresh databases AND
--     append `ALTER TABLE t ADD COLUMN IF NOT EXISTS c type [DEFAULT constant]` to the "column
--     additions" section. New NOT NULL columns need a constant default (no table rewrite, no lock
--     storm; lint cannot know whether the table has rows, `schemaflow plan` does: one without a
--     default over existing rows is its fails_on_data hazard). Type changes, renames and drops are
--     not done here: they need a reviewed one-off migration, because a re-runnable file cannot know
--     whether it already ran.
--  5. No unguarded DROP / TRUNCATE / DELETE / UPDATE / ALTER COLUMN ... TYPE: any destructive step
--     lives inside a DO block whose IF makes it run at most once (e.g. the capability upgrades).
--  6. Policies, triggers and roles have no IF NOT EXISTS in PostgreSQL 15: create them in DO blocks
--     that check pg_policies / pg_roles, or with CREATE OR REPLACE TRIGGER.
--
-- Capabilities (one file, three kinds of server), decided inside the SQL:
--   tsl    TimescaleDB loaded with the Timescale license: hypertables + metrics_daily as a continuous
--          aggregate with a refresh policy.
--   apache TimescaleDB Apache edition: hypertables + metrics_daily as a table with a unique key,
--          maintained incrementally inside a refresh window by refresh_metrics_daily().
--   plain  no TimescaleDB (or installed but not preloaded): plain tables with the same columns and
--          indexes + metrics_daily as that same table.
-- Re-running after the server gains a capability upgrades in place: plain tables become hypertables
-- with their rows migrated, metrics_daily becomes a continuous aggregate; a materialized view left
-- by older versions of this file becomes the table with every bucket kept.
-- =====================================================================================================

-- ----------------------------------------------------------------------------------------------------
-- Extensions
-- ----------------------------------------------------------------------------------------------------
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- pgcrypto (digest/hmac for API keys) is optional: gen_random_uuid() is built in since PostgreSQL 13,
-- and some hosts (e.g. PGlite) do not ship it.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto') THEN
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
    END IF;
END
$$;

-- TimescaleDB, only where its library can be loaded: a native server without it in
-- shared_preload_libraries answers CREATE EXTENSION with FATAL (the connection drops; no EXCEPTION
-- clause can catch that), so the file must not even try there. Loadable means: preloaded; or the
-- license setting is already defined (library loaded); or PGlite (PostgreSQL compiled to WASM with
-- Emscripten), which has no preload step and loads the library on CREATE EXTENSION. pg_settings
-- rather than current_setting(): only superusers may read shared_preload_libraries directly, and
-- pg_settings just hides the row from other roles instead of raising.
DO $$
DECLARE
    loaded boolean := 'timescaledb' = ANY (string_to_array(
                          replace(coalesce((SELECT setting FROM pg_settings
                                               WHERE name = 'shared_preload_libraries'), ''), ' ', ''), ','))
                      OR coalesce(current_setting('timescaledb.license', true), '') <> ''
                      OR version() LIKE '%Emscripten%';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        IF NOT loaded THEN
            RAISE EXCEPTION 'timescaledb is installed in this database but its library is not loaded'
                USING HINT = 'add timescaledb to shared_preload_libraries and restart the server';
        END IF;
    ELSIF loaded AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END
$$;

DO $$
DECLARE
    mode text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        mode := 'plain';
    ELSIF current_setting('timescaledb.license', true) = 'timescale' THEN
        mode := 'tsl';
    ELSE
        mode := 'apache';
    END IF;
    RAISE NOTICE 'schemaflow master schema mode: %', mode;
END
$$;

-- ----------------------------------------------------------------------------------------------------
-- Shared functions
-- ----------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.set_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- The tenant the current session acts for; NULL when unset, so tenant policies then match no row.
CREATE OR REPLACE FUNCTION public.current_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

-- ----------------------------------------------------------------------------------------------------
-- Multi-tenancy and billing
-- ----------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.plans (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code            text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9_]+$'),
    name            text NOT NULL,
    monthly_price_cents bigint NOT NULL DEFAULT 0 CHECK (monthly_price_cents >= 0),
    max_podcasts    integer CHECK (max_podcasts > 0),
    max_events_per_month bigint CHECK (max_events_per_month > 0),
    is_public       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.plans IS 'Price list shared by all tenants (not tenant-scoped).';

CREATE TABLE IF NOT EXISTS public.tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('trial', 'active', 'suspended', 'closed')),
    plan_id     uuid REFERENCES public.plans (id),
    timezone    text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.tenant_settings (
    tenant_id   uuid PRIMARY KEY REFERENCES public.tenants (id) ON DELETE CASCADE,
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    features    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(features) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.tenant_settings IS
    'Per-tenant JSON settings and feature flags; features->''deals'' = true unlocks the deals table.';

CREATE TABLE IF NOT EXISTS public.tenant_quotas (
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    resource    text NOT NULL CHECK (resource IN ('podcasts', 'episodes', 'listener_events_month',
                                                  'api_requests_day', 'users', 'campaigns')),
    quota_limit bigint NOT NULL CHECK (quota_limit >= 0),
    used        bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    reset_at    timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, resource)
);
COMMENT ON TABLE public.tenant_quotas IS 'Usage limits per tenant and resource, with the current counter.';

CREATE TABLE IF NOT EXISTS public.subscriptions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    plan_id     uuid NOT NULL REFERENCES public.plans (id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    ends_at     timestamptz,
    external_ref text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR ends_at > started_at),
    CONSTRAINT subscriptions_tenant_id_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS public.invoices (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    subscription_id uuid,
    number          text NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    amount_cents    bigint NOT NULL CHECK (amount_cents >= 0),
    currency        char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('draft', 'open', 'paid', 'void')),
    issued_at       timestamptz NOT NULL DEFAULT now(),
    paid_at         timestamptz,
    UNIQUE (tenant_id, number),
    CHECK (period_end >= period_start),
    CONSTRAINT invoices_subscription_id_fkey FOREIGN KEY (tenant_id, subscription_id)
        REFERENCES public.subscriptions (tenant_id, id) ON DELETE SET NULL (subscription_id)
);

-- ----------------------------------------------------------------------------------------------------
-- Users and access
-- ----------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    email           text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    display_name    text,
    role            text NOT NULL DEFAULT 'viewer' CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('invited', 'active', 'disabled')),
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email),
    CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS public.user_email_preferences (
    user_id         uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    weekly_report   boolean NOT NULL DEFAULT true,
    campaign_alerts boolean NOT NULL DEFAULT true,
    product_news    boolean NOT NULL DEFAULT false,
    unsubscribed_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_email_preferences_user_id_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES public.users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS public.user_metrics (
    user_id         uuid NOT NULL,
    tenant_id       uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    day             date NOT NULL,
    logins          integer NOT NULL DEFAULT 0 CHECK (logins >= 0),
    dashboard_views integer NOT NULL DEFAULT 0 CHECK (dashboard_views >= 0),
    reports_exported integer NOT NULL DEFAULT 0 CHECK (reports_exported >= 0),
    api_requests    integer NOT NULL DEFAULT 0 CHECK (api_requests >= 0),
    PRIMARY KEY (user_id, day),
    CONSTRAINT user_metrics_user_id_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES public.users (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE public.user_metrics IS 'Daily product-usage counters per dashboard user (not listener data).';

CREATE TABLE IF NOT EXISTS public.api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    created_by  uuid,
    name        text NOT NULL,
    key_prefix  text NOT NULL UNIQUE CHECK (length(key_prefix) BETWEEN 6 AND 16),
    key_hash    text NOT NULL,
    scopes      text[] NOT NULL DEFAULT ARRAY['read']::text[],
    last_used_at timestamptz,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT api_keys_created_by_fkey FOREIGN KEY (tenant_id, created_by)
        REFERENCES public.users (tenant_id, id) ON DELETE SET NULL (created_by)
);
COMMENT ON TABLE public.api_keys IS
    'API credentials: only a prefix (for lookup) and a hash of the secret are stored, never the key.';

CREATE TABLE IF NOT EXISTS public.audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    actor_user_id uuid,
    actor_api_key_id uuid,
    action      text NOT NULL,
    entity_type text NOT NULL,
    entity_id   uuid,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    ip_address  inet,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_log_actor_user_id_fkey FOREIGN KEY (tenant_id, actor_user_id)
        REFERENCES public.users (tenant_id, id) ON DELETE SET NULL (actor_user_id),
    CONSTRAINT audit_log_actor_api_key_id_fkey FOREIGN KEY (tenant_id, actor_api_key_id)
        REFERENCES public.api_keys (tenant_id, id) ON DELETE SET NULL (actor_api_key_id)
);
COMMENT ON TABLE public.audit_log IS 'Append-only record of who changed what, per tenant (compliance).';

-- ----------------------------------------------------------------------------------------------------
-- Content and sponsors
-- ----------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.podcasts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    title       text NOT NULL,
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    description text,
    language    text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    category    text,
    rss_url     text,
    is_explicit boolean NOT NULL DEFAULT false,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('draft', 'active', 'archived')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, slug),
    CONSTRAINT podcasts_tenant_id_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS public.episodes (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    podcast_id      uuid NOT NULL,
    title           text NOT NULL,
    season_number   integer CHECK (season_number > 0),
    episode_number  integer CHECK (episode_number > 0),
    duration_seconds integer NOT NULL CHECK (duration_seconds > 0),
    audio_url       text,
    status          text NOT NULL DEFAULT 'published' CHECK (status IN ('draft', 'scheduled', 'published', 'archived')),
    published_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT episodes_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT episodes_podcast_id_fkey FOREIGN KEY (tenant_id, podcast_id)
        REFERENCES public.podcasts (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS public.sponsors (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    website     text,
    industry    text,
    contact_email text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    CONSTRAINT sponsors_tenant_id_id_key UNIQUE (tenant_id, id)
);

-- ----------------------------------------------------------------------------------------------------
-- Advertising: campaigns, where they run, and what attribution events point at
-- ----------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.campaigns (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    sponsor_id  uuid NOT NULL,
    name        text NOT NULL,
    starts_on   date NOT NULL,
    ends_on     date NOT NULL,
    status      text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('draft', 'scheduled', 'active', 'paused', 'completed', 'canceled')),
    budget_cents bigint NOT NULL DEFAULT 0 CHECK (budget_cents >= 0),
    goal        text CHECK (goal IN ('awareness', 'clicks', 'installs', 'signups', 'purchases')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on >= starts_on),
    CONSTRAINT campaigns_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT campaigns_sponsor_id_fkey FOREIGN KEY (tenant_id, sponsor_id)
        REFERENCES public.sponsors (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS public.campaign_placements (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL,
    episode_id  uuid NOT NULL,
    slot        text NOT NULL CHECK (slot IN ('pre_roll', 'mid_roll', 'post_roll')),
    offset_seconds integer NOT NULL DEFAULT 0 CHECK (offset_seconds >= 0),
    price_cents bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, episode_id, slot),
    CONSTRAINT campaign_placements_campaign_id_fkey FOREIGN KEY (tenant_id, campaign_id)
        REFERENCES public.campaigns (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT campaign_placements_episode_id_fkey FOREIGN KEY (tenant_id, episode_id)
        REFERENCES public.episodes (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE public.campaign_placements IS 'Which ad slot of which episode carries a campaign, and its price.';

CREATE TABLE IF NOT EXISTS public.tracking_links (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL,
    episode_id  uuid,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{4,32}$'),
    destination_url text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tracking_links_campaign_id_fkey FOREIGN KEY (tenant_id, campaign_id)
        REFERENCES public.campaigns (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT tracking_links_episode_id_fkey FOREIGN KEY (tenant_id, episode_id)
        REFERENCES public.episodes (tenant_id, id) ON DELETE SET NULL (episode_id)
);
COMMENT ON TABLE public.tracking_links IS 'Short redirect links read in ads; clicks become attribution events.';

CREATE TABLE IF NOT EXISTS public.promo_codes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL,
    code        text NOT NULL CHECK (code ~ '^[A-Z0-9]{3,24}$'),
    discount_percent integer CHECK (discount_percent BETWEEN 1 AND 100),
    max_redemptions integer CHECK (max_redemptions > 0),
    valid_until date,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, code),
    CONSTRAINT promo_codes_campaign_id_fkey FOREIGN KEY (tenant_id, campaign_id)
        REFERENCES public.campaigns (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE public.promo_codes IS 'Codes read out by hosts; redemptions become attribution events.';

-- ----------------------------------------------------------------------------------------------------
-- Business: deals (feature-flagged), partnerships, referrals
-- ----------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.deals (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    sponsor_id  uuid NOT NULL,
    campaign_id uuid,
    owner_user_id uuid,
    title       text NOT NULL,
    stage       text NOT NULL DEFAULT 'lead' CHECK (stage IN ('lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost')),
    value_cents bigint NOT NULL DEFAULT 0 CHECK (value_cents >= 0),
    expected_close_on date,
    closed_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deals_sponsor_id_fkey FOREIGN KEY (tenant_id, sponsor_id)
        REFERENCES public.sponsors (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deals_campaign_id_fkey FOREIGN KEY (tenant_id, campaign_id)
        REFERENCES public.campaigns (tenant_id, id) ON DELETE SET NULL (campaign_id),
    CONSTRAINT deals_owner_user_id_fkey FOREIGN KEY (tenant_id, owner_user_id)
        REFERENCES public.users (tenant_id, id) ON DELETE SET NULL (owner_user_id)
);
COMMENT ON TABLE public.deals IS
    'Sponsorship sales pipeline; only for tenants whose tenant_settings.features has "deals": true '
    '(enforced by the deals_require_feature trigger).';

CREATE TABLE IF NOT EXISTS public.partnerships (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    partner_name text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('cross_promotion', 'network', 'agency', 'distribution')),
    podcast_id  uuid,
    revenue_share_percent numeric(5, 2) CHECK (revenue_share_percent BETWEEN 0 AND 100),
    starts_on   date NOT NULL,
    ends_on     date,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('proposed', 'active', 'ended')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CONSTRAINT partnerships_podcast_id_fkey FOREIGN KEY (tenant_id, podcast_id)
        REFERENCES public.podcasts (tenant_id, id) ON DELETE SET NULL (podcast_id)
);
COMMENT ON TABLE public.partnerships IS 'Agreements with other shows, networks or agencies (cross-promotion, revenue share).';

CREATE TABLE IF NOT EXISTS public.referrals (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    referrer_user_id uuid,
    referred_email text NOT NULL,
    -- Deliberately another tenant (the one the referral signed up), so not a composite key.
    referred_tenant_id uuid REFERENCES public.tenants (id) ON DELETE SET NULL,
    code        text NOT NULL UNIQUE,
    status      text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'signed_up', 'converted', 'expired')),
    reward_cents bigint NOT NULL DEFAULT 0 CHECK (reward_cents >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    converted_at timestamptz,
    CONSTRAINT referrals_referrer_user_id_fkey FOREIGN KEY (tenant_id, referrer_user_id)
        REFERENCES public.users (tenant_id, id) ON DELETE SET NULL (referrer_user_id)
);
COMMENT ON TABLE public.referrals IS 'Tenant-to-prospect invitations to the product and the reward they earn.';

-- ----------------------------------------------------------------------------------------------------
-- Integrations
-- ----------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.webhooks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    url         text NOT NULL CHECK (url ~ '^https://'),
    events      text[] NOT NULL CHECK (cardinality(events) > 0),
    secret_hash text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhooks_tenant_id_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS public.webhook_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    webhook_id  uuid NOT NULL,
    event_type  text NOT NULL,
    payload     jsonb NOT NULL,
    response_status integer CHECK (response_status BETWEEN 100 AND 599),
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    delivered_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (tenant_id, webhook_id)
        REFERENCES public.webhooks (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE public.webhook_deliveries IS 'Outbox and delivery log of webhook calls, retried until delivered.';

CREATE TABLE IF NOT EXISTS public.data_exports (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    requested_by uuid,
    kind        text NOT NULL CHECK (kind IN ('listener_events', 'attribution_events', 'metrics_daily')),
    range_start timestamptz NOT NULL,
    range_end   timestamptz NOT NULL,
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    file_url    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CHECK (range_end > range_start),
    CONSTRAINT data_exports_requested_by_fkey FOREIGN KEY (tenant_id, requested_by)
        REFERENCES public.users (tenant_id, id) ON DELETE SET NULL (requested_by)
);
COMMENT ON TABLE public.data_exports IS 'CSV/Parquet export jobs requested from the dashboard.';

-- ----------------------------------------------------------------------------------------------------
-- Time series (hypertables when TimescaleDB is loaded; see "capability upgrades" below).
-- No foreign key may point AT these tables (hypertables cannot be referenced); their own keys must
-- contain event_time (a hypertable's unique indexes must include the partitioning column).
-- ----------------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.listener_events (
    event_id        uuid NOT NULL DEFAULT gen_random_uuid(),
    event_time      timestamptz NOT NULL,
    tenant_id       uuid NOT NULL,
    podcast_id      uuid NOT NULL,
    episode_id      uuid NOT NULL,
    listener_id     text NOT NULL,
    session_id      uuid,
    event_type      text NOT NULL CHECK (event_type IN ('play', 'pause', 'resume', 'seek', 'complete', 'skip', 'download')),
    position_seconds integer NOT NULL CHECK (position_seconds >= 0),
    duration_seconds integer NOT NULL DEFAULT 0 CHECK (duration_seconds >= 0),
    platform        text CHECK (platform IN ('ios', 'android', 'web', 'desktop', 'smart_speaker', 'car', 'other')),
    app_name        text,
    country_code    char(2) CHECK (country_code ~ '^[A-Z]{2}$'),
    region          text,
    user_agent      text,
    ip_hash         text,
    PRIMARY KEY (event_id, event_time)
);
-- listener_events deliberately has no foreign keys: it is the ingest path (millions of rows a day),
-- and three parent lookups with KEY SHARE row locks per event halve its insert rate (measured with
-- seed-data). Its references (tenant, podcast, episode, and that they agree) are verified by the
-- Great Expectations suites instead, and a tenant's events are purged by tenant_id.
COMMENT ON TABLE public.listener_events IS
    'Raw listening events (one row per play/pause/seek/...); listener_id is a salted hash, never a raw '
    'device id. duration_seconds = seconds listened in this event. No foreign keys (ingest path): '
    'references are checked by the data-quality suites.';

CREATE TABLE IF NOT EXISTS public.attribution_events (
    event_id        uuid NOT NULL DEFAULT gen_random_uuid(),
    event_time      timestamptz NOT NULL,
    tenant_id       uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    campaign_id     uuid NOT NULL,
    episode_id      uuid,
    tracking_link_id uuid,
    promo_code_id   uuid,
    event_type      text NOT NULL CHECK (event_type IN ('impression', 'click', 'install', 'signup', 'purchase')),
    revenue_cents   bigint NOT NULL DEFAULT 0 CHECK (revenue_cents >= 0),
    listener_id     text,
    country_code    char(2) CHECK (country_code ~ '^[A-Z]{2}$'),
    PRIMARY KEY (event_id, event_time),
    CONSTRAINT attribution_events_campaign_id_fkey FOREIGN KEY (tenant_id, campaign_id)
        REFERENCES public.campaigns (tenant_id, id) ON DELETE CASCADE
);
-- attribution_events is an ingest path too: it keeps the two foreign keys that scope it (tenant,
-- campaign; the campaign key is composite, so it is the campaign of the same tenant) and leaves
-- episode, link and code as plain references, checked by the data-quality suites, so an impression
-- costs two parent lookups instead of five.
COMMENT ON TABLE public.attribution_events IS
    'Conversions credited to a campaign (impression -> click -> install/signup/purchase), via a tracking '
    'link or promo code.';

-- ----------------------------------------------------------------------------------------------------
-- Column additions (rule 4): ALTER TABLE ... ADD COLUMN IF NOT EXISTS lines go here, oldest first.
-- ----------------------------------------------------------------------------------------------------
ALTER TABLE public.episodes ADD COLUMN IF NOT EXISTS explicit boolean NOT NULL DEFAULT false;
ALTER TABLE public.podcasts ADD COLUMN IF NOT EXISTS image_url text;

-- ----------------------------------------------------------------------------------------------------
-- Tenant-scoped foreign keys (rule 3), upgraded in place on databases created before they were
-- composite: each parent gains UNIQUE (tenant_id, id), each single-column key to it is replaced by
-- the composite key of the same name. Runs once per key (the IF finds the composite key afterwards).
-- Locks: ADD UNIQUE builds an index under a SHARE lock on the parent; DROP CONSTRAINT takes ACCESS
-- EXCLUSIVE on child and parent; ADD FOREIGN KEY validates under SHARE ROW EXCLUSIVE. All are held
-- to the end of the one transaction, so the upgrade is a short maintenance window for these tables
-- (seconds at demo scale; the validation scans each child once). A row that already points at
-- another tenant's parent makes the validation fail and the whole file roll back: fix that row first.
-- ----------------------------------------------------------------------------------------------------
DO $$
DECLARE
    parent text;
    fk record;
    old record;
BEGIN
    FOR parent IN SELECT p FROM unnest(ARRAY['subscriptions', 'users', 'api_keys', 'podcasts', 'sponsors',
                                             'campaigns', 'episodes', 'webhooks']) AS p
                  WHERE NOT EXISTS (SELECT 1 FROM pg_constraint
                                    WHERE conrelid = format('public.%I', p)::regclass
                                      AND conname = p || '_tenant_id_id_key') LOOP
        EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I UNIQUE (tenant_id, id)',
                       parent, parent || '_tenant_id_id_key');
        RAISE NOTICE 'schemaflow: %.(tenant_id, id) is now unique', parent;
    END LOOP;

    -- One catalog query finds the keys that are not composite yet (none, on an up-to-date database).
    FOR fk IN SELECT v.*, a.attnum AS fk_col FROM (VALUES
        ('invoices', 'subscription_id', 'subscriptions', false),
        ('user_email_preferences', 'user_id', 'users', true),
        ('user_metrics', 'user_id', 'users', true),
        ('api_keys', 'created_by', 'users', false),
        ('audit_log', 'actor_user_id', 'users', false),
        ('audit_log', 'actor_api_key_id', 'api_keys', false),
        ('episodes', 'podcast_id', 'podcasts', true),
        ('campaigns', 'sponsor_id', 'sponsors', true),
        ('campaign_placements', 'campaign_id', 'campaigns', true),
        ('campaign_placements', 'episode_id', 'episodes', true),
        ('tracking_links', 'campaign_id', 'campaigns', true),
        ('tracking_links', 'episode_id', 'episodes', false),
        ('promo_codes', 'campaign_id', 'campaigns', true),
        ('deals', 'sponsor_id', 'sponsors', true),
        ('deals', 'campaign_id', 'campaigns', false),
        ('deals', 'owner_user_id', 'users', false),
        ('partnerships', 'podcast_id', 'podcasts', false),
        ('referrals', 'referrer_user_id', 'users', false),
        ('webhook_deliveries', 'webhook_id', 'webhooks', true),
        ('data_exports', 'requested_by', 'users', false),
        ('attribution_events', 'campaign_id', 'campaigns', true)
    ) AS v(child, col, parent, cascade)
              JOIN pg_attribute t ON t.attrelid = format('public.%I', v.child)::regclass AND t.attname = 'tenant_id'
              JOIN pg_attribute a ON a.attrelid = t.attrelid AND a.attname = v.col
              WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k
                                WHERE k.conrelid = t.attrelid AND k.contype = 'f'
                                  AND k.confrelid = format('public.%I', v.parent)::regclass
                                  AND k.conkey = ARRAY[t.attnum, a.attnum]) LOOP
        FOR old IN SELECT conname FROM pg_constraint
                   WHERE conrelid = format('public.%I', fk.child)::regclass AND contype = 'f'
                     AND confrelid = format('public.%I', fk.parent)::regclass
                     AND conkey = ARRAY[fk.fk_col] LOOP
            EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', fk.child, old.conname);
        END LOOP;
        EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I FOREIGN KEY (tenant_id, %I) '
                       'REFERENCES public.%I (tenant_id, id) ON DELETE %s',
                       fk.child, fk.child || '_' || fk.col || '_fkey', fk.col, fk.parent,
                       CASE WHEN fk.cascade THEN 'CASCADE' ELSE format('SET NULL (%I)', fk.col) END);
        RAISE NOTICE 'schemaflow: %.% now references % of the same tenant', fk.child, fk.col, fk.parent;
    END LOOP;
END
$$;

-- ----------------------------------------------------------------------------------------------------
-- Indexes: every foreign key, frequent lookups, time-series access paths, title search.
-- Plain CREATE INDEX (not CONCURRENTLY) because this file runs in a transaction; on hypertables it
-- builds per chunk. A failed concurrent build elsewhere leaves an INVALID index that IF NOT EXISTS
-- skips: the health checks look at pg_index.indisvalid.
-- ----------------------------------------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS idx_tenants_plan_id ON public.tenants (plan_id);
CREATE INDEX IF NOT EXISTS idx_tenant_quotas_tenant_id ON public.tenant_quotas (tenant_id);
CREATE INDEX IF NOT EXISTS idx_subscriptions_tenant_id ON public.subscriptions (tenant_id);
CREATE INDEX IF NOT EXISTS idx_subscriptions_plan_id ON public.subscriptions (plan_id);
CREATE INDEX IF NOT EXISTS idx_invoices_tenant_id ON public.invoices (tenant_id, issued_at DESC);
CREATE INDEX IF NOT EXISTS idx_invoices_subscription_id ON public.invoices (subscription_id);

CREATE INDEX IF NOT EXISTS idx_users_tenant_id ON public.users (tenant_id);
CREATE INDEX IF NOT EXISTS idx_users_email ON public.users (lower(email));
CREATE INDEX IF NOT EXISTS idx_user_email_preferences_tenant_id ON public.user_email_preferences (tenant_id);
CREATE INDEX IF NOT EXISTS idx_user_metrics_tenant_id_day ON public.user_metrics (tenant_id, day);
CREATE INDEX IF NOT EXISTS idx_api_keys_tenant_id ON public.api_keys (tenant_id);
CREATE INDEX IF NOT EXISTS idx_api_keys_created_by ON public.api_keys (created_by);
CREATE INDEX IF NOT EXISTS idx_audit_log_tenant_id_occurred_at ON public.audit_log (tenant_id, occurred_at DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_actor_user_id ON public.audit_log (actor_user_id);
CREATE INDEX IF NOT EXISTS idx_audit_log_actor_api_key_id ON public.audit_log (actor_api_key_id);
CREATE INDEX IF NOT EXISTS idx_audit_log_entity ON public.audit_log (entity_type, entity_id);

CREATE INDEX IF NOT EXISTS idx_podcasts_tenant_id ON public.podcasts (tenant_id);
CREATE INDEX IF NOT EXISTS idx_podcasts_title_trgm ON public.podcasts USING gin (title gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_episodes_tenant_id ON public.episodes (tenant_id);
CREATE INDEX IF NOT EXISTS idx_episodes_podcast_id_published_at ON public.episodes (podcast_id, published_at DESC);
CREATE INDEX IF NOT EXISTS idx_episodes_title_trgm ON public.episodes USING gin (title gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_sponsors_tenant_id ON public.sponsors (tenant_id);

CREATE INDEX IF NOT EXISTS idx_campaigns_tenant_id ON public.campaigns (tenant_id);
CREATE INDEX IF NOT EXISTS idx_campaigns_sponsor_id ON public.campaigns (sponsor_id);
CREATE INDEX IF NOT EXISTS idx_campaigns_dates ON public.campaigns (starts_on, ends_on);
CREATE INDEX IF NOT EXISTS idx_campaign_placements_tenant_id ON public.campaign_placements (tenant_id);
CREATE INDEX IF NOT EXISTS idx_campaign_placements_campaign_id ON public.campaign_placements (campaign_id);
CREATE INDEX IF NOT EXISTS idx_campaign_placements_episode_id ON public.campaign_placements (episode_id);
CREATE INDEX IF NOT EXISTS idx_tracking_links_tenant_id ON public.tracking_links (tenant_id);
CREATE INDEX IF NOT EXISTS idx_tracking_links_campaign_id ON public.tracking_links (campaign_id);
CREATE INDEX IF NOT EXISTS idx_tracking_links_episode_id ON public.tracking_links (episode_id);
CREATE INDEX IF NOT EXISTS idx_promo_codes_campaign_id ON public.promo_codes (campaign_id);

CREATE INDEX IF NOT EXISTS idx_deals_tenant_id_stage ON public.deals (tenant_id, stage);
CREATE INDEX IF NOT EXISTS idx_deals_sponsor_id ON public.deals (sponsor_id);
CREATE INDEX IF NOT EXISTS idx_deals_campaign_id ON public.deals (campaign_id);
CREATE INDEX IF NOT EXISTS idx_deals_owner_user_id ON public.deals (owner_user_id);
CREATE INDEX IF NOT EXISTS idx_partnerships_tenant_id ON public.partnerships (tenant_id);
CREATE INDEX IF NOT EXISTS idx_partnerships_podcast_id ON public.partnerships (podcast_id);
CREATE INDEX IF NOT EXISTS idx_referrals_tenant_id ON public.referrals (tenant_id);
CREATE INDEX IF NOT EXISTS idx_referrals_referrer_user_id ON public.referrals (referrer_user_id);
CREATE INDEX IF NOT EXISTS idx_referrals_referred_tenant_id ON public.referrals (referred_tenant_id);

CREATE INDEX IF NOT EXISTS idx_webhooks_tenant_id ON public.webhooks (tenant_id);
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_webhook_id ON public.webhook_deliveries (webhook_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_pending ON public.webhook_deliveries (created_at)
    WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_tenant_id ON public.webhook_deliveries (tenant_id);
CREATE INDEX IF NOT EXISTS idx_data_exports_tenant_id ON public.data_exports (tenant_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_data_exports_requested_by ON public.data_exports (requested_by);

-- Time-series indexes lead with the key and end with event_time, ascending: ingest arrives roughly
-- in time order, so new entries land at the right edge of each chunk's B-tree (PostgreSQL's
-- rightmost-leaf fast path), and backward scans serve ORDER BY event_time DESC just as well.
-- listener_events has no (podcast_id, event_time) index on purpose: per-podcast questions are
-- answered from metrics_daily, and each index on this table costs ~20% of its ingest rate.
CREATE INDEX IF NOT EXISTS idx_listener_events_timestamp ON public.listener_events (event_time);
CREATE INDEX IF NOT EXISTS idx_listener_events_tenant_id_time ON public.listener_events (tenant_id, event_time);
CREATE INDEX IF NOT EXISTS idx_listener_events_episode_id_time ON public.listener_events (episode_id, event_time);
CREATE INDEX IF NOT EXISTS idx_attribution_events_timestamp ON public.attribution_events (event_time);
CREATE INDEX IF NOT EXISTS idx_attribution_events_tenant_id_time ON public.attribution_events (tenant_id, event_time);
CREATE INDEX IF NOT EXISTS idx_attribution_events_campaign_id ON public.attribution_events (campaign_id, event_time);
CREATE INDEX IF NOT EXISTS idx_attribution_events_episode_id ON public.attribution_events (episode_id, event_time);

-- ----------------------------------------------------------------------------------------------------
-- Triggers
-- ----------------------------------------------------------------------------------------------------
CREATE OR REPLACE TRIGGER trg_tenants_updated_at BEFORE UPDATE ON public.tenants
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER trg_tenant_settings_updated_at BEFORE UPDATE ON public.tenant_settings
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER trg_users_updated_at BEFORE UPDATE ON public.users
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER trg_podcasts_updated_at BEFORE UPDATE ON public.podcasts
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER trg_episodes_updated_at BEFORE UPDATE ON public.episodes
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER trg_campaigns_updated_at BEFORE UPDATE ON public.campaigns
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE OR REPLACE TRIGGER trg_deals_updated_at BEFORE UPDATE ON public.deals
    FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- The deals feature flag: a deal row may exist only for a tenant that has the feature switched on.
-- SECURITY DEFINER so the check sees tenant_settings whatever the caller's row-level security says.
-- An AFTER trigger, so the row-level security check (which runs after BEFORE triggers) refuses a row
-- of another tenant first: the error must not tell whether that tenant exists or has the feature.
CREATE OR REPLACE FUNCTION public.deals_require_feature() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS
$$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.tenant_settings s
                   WHERE s.tenant_id = NEW.tenant_id AND s.features @> '{"deals": true}'::jsonb) THEN
        RAISE EXCEPTION 'deals are not enabled for tenant %', NEW.tenant_id
            USING ERRCODE = 'check_violation',
                  HINT = 'set tenant_settings.features = features || ''{"deals": true}'' for this tenant';
    END IF;
    RETURN NEW;
END
$$;
CREATE OR REPLACE TRIGGER trg_deals_require_feature AFTER INSERT OR UPDATE OF tenant_id ON public.deals
    FOR EACH ROW EXECUTE FUNCTION public.deals_require_feature();

-- ----------------------------------------------------------------------------------------------------
-- Capability upgrades: hypertables
-- create_hypertable(if_not_exists, migrate_data) is a no-op on a hypertable and moves existing rows
-- into chunks on a plain table, so the same call serves fresh databases, re-runs and upgrades.
-- create_default_indexes => false keeps the index set identical to plain mode (ours are above).
-- ----------------------------------------------------------------------------------------------------
DO $$
DECLARE
    t text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        FOREACH t IN ARRAY ARRAY['listener_events', 'attribution_events'] LOOP
            IF NOT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                           WHERE hypertable_schema = 'public' AND hypertable_name = t) THEN
                PERFORM create_hypertable(format('public.%I', t)::regclass,
                                          by_range('event_time', INTERVAL '1 day'),
                                          if_not_exists => TRUE, migrate_data => TRUE,
                                          create_default_indexes => FALSE);
                RAISE NOTICE 'schemaflow: % is now a hypertable', t;
            END IF;
        END LOOP;
    END IF;
END
$$;

-- ----------------------------------------------------------------------------------------------------
-- Data retention: how long raw events are kept, declared once here and read in every mode.
-- 13 months for both: a year-over-year comparison of a month needs that month a year ago plus the
-- current, partial one, and nothing older serves the product, while privacy law (keep personal data
-- no longer than needed) and storage cost both want old events gone. metrics_daily keeps its daily
-- totals beyond the window: they hold no listener.
--   tsl          a retention policy per hypertable, kept equal to the window (and scheduled) below.
--   apache/plain `schemaflow enforce-retention` and the enforce-retention deployments (daily) drop the
--                whole chunks older than the window (drop_chunks, one chunk per short transaction), or
--                on plain tables delete in bounded batches (db/deploy/retention.py).
-- Shrinking a window deletes events on the next run: the plan marks it destroys_data with the rows,
-- chunks and time range it would remove (db/plan/retention_hazards.py). The body stays one VALUES
-- list of constants: the planner reads the new windows from it.
-- ----------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.retention_windows()
    RETURNS TABLE (table_name text, keep_for interval)
    LANGUAGE sql IMMUTABLE AS
$$
    VALUES ('public.listener_events', INTERVAL '13 months'),
           ('public.attribution_events', INTERVAL '13 months')
$$;
COMMENT ON FUNCTION public.retention_windows() IS
    'How long each event table keeps its rows; enforced by a retention policy (tsl) or by '
    'schemaflow enforce-retention (apache/plain). Shrinking a window deletes data: plan it.';
REVOKE ALL ON FUNCTION public.retention_windows() FROM PUBLIC;

-- tsl: one retention policy per window, replaced when its drop_after differs or it was paused (a
-- policy cannot be altered in place). The policy's job only drops whole chunks, as the other modes do.
DO $$
DECLARE
    w record;
    job record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
       AND current_setting('timescaledb.license', true) = 'timescale' THEN
        FOR w IN SELECT * FROM public.retention_windows() LOOP
            SELECT (j.config ->> 'drop_after')::interval AS drop_after, j.scheduled INTO job
            FROM timescaledb_information.jobs j
            WHERE j.proc_name = 'policy_retention'
              AND format('%I.%I', j.hypertable_schema, j.hypertable_name) = w.table_name;
            IF job IS NULL OR job.drop_after IS DISTINCT FROM w.keep_for OR NOT job.scheduled THEN
                PERFORM remove_retention_policy(w.table_name::regclass, if_exists => TRUE);
                PERFORM add_retention_policy(w.table_name::regclass, drop_after => w.keep_for,
                                             schedule_interval => INTERVAL '1 day');
            END IF;
        END LOOP;
    END IF;
END
$$;

-- ----------------------------------------------------------------------------------------------------
-- metrics_daily: daily listening per tenant / podcast / episode (UTC days).
--   tsl          continuous aggregate WITH NO DATA (WITH DATA cannot run in a transaction) plus a
--                refresh policy; real-time aggregation on, so it is correct before the first refresh.
--   apache/plain a table with the unique key (tenant_id, podcast_id, episode_id, day), maintained
--                incrementally by refresh_metrics_daily(window): TimescaleDB's refresh-window model.
--                Only the buckets inside the window are re-aggregated and upserted; older buckets
--                stay as they are, so a refresh costs the window's events, not the whole history.
--                It runs on a schedule (the refresh-metrics Prefect deployment, every 15 minutes),
--                never as part of a deploy. The table is backfilled once, when this file creates it.
-- Post-commit (autocommit, run by the migrate flow only when metrics_daily is new):
--   tsl:          CALL refresh_continuous_aggregate('public.metrics_daily', NULL, NULL);
--   apache/plain: SELECT * FROM public.refresh_metrics_daily(NULL);   -- NULL window: all history
-- TimescaleDB refuses to create a continuous aggregate on a hypertable with row-level security, so
-- the creation briefly lifts RLS on listener_events inside this same statement/transaction (nobody
-- can observe it: ALTER TABLE holds an ACCESS EXCLUSIVE lock until commit) and restores it.
-- Capability upgrades, each at most once (the IFs find the new form afterwards):
--   materialized view -> table (databases built before the table existed): the view's rows are
--     copied into the table under the same name and key, and the file stops (rolls back) unless a
--     checksum of every bucket is equal before and after. Locks: ACCESS EXCLUSIVE on the old view
--     (derived data; listener_events is only read), held to commit.
--   materialized view or table -> continuous aggregate (the server gained the TSL): only derived
--     data is dropped; the aggregate is rebuilt from listener_events by its first refresh.
-- The tenant view on top is dropped with the old form and recreated further down.
-- ----------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.refresh_metrics_daily(refresh_window interval DEFAULT INTERVAL '3 days')
    RETURNS TABLE (window_start timestamptz, buckets_upserted bigint, buckets_deleted bigint)
    LANGUAGE plpgsql SET search_path = pg_catalog, public AS
$$
DECLARE
    since timestamptz;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('public.metrics_daily')) IS DISTINCT FROM 'r' THEN
        RAISE EXCEPTION 'metrics_daily is not a table here: refresh_metrics_daily() maintains the table form only'
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'a continuous aggregate is refreshed by its policy (refresh_continuous_aggregate)';
    END IF;
    -- One refresh at a time (the schedule, a manual run): an advisory lock blocks no writer of
    -- listener_events, and the upsert below takes row locks on metrics_daily only.
    PERFORM pg_advisory_xact_lock(hashtext('schemaflow.refresh_metrics_daily'));
    -- The window starts on a UTC day boundary, so every bucket in it is re-aggregated whole.
    since := CASE WHEN refresh_window IS NULL THEN '-infinity'::timestamptz
                  ELSE date_trunc('day', now() - refresh_window, 'UTC') END;
    window_start := since;
    WITH fresh AS MATERIALIZED (
        SELECT date_trunc('day', e.event_time, 'UTC') AS day,
               e.tenant_id,
               e.podcast_id,
               e.episode_id,
               count(*) AS events,
               count(*) FILTER (WHERE e.event_type = 'play') AS plays,
               count(*) FILTER (WHERE e.event_type = 'complete') AS completes,
               sum(e.duration_seconds)::bigint AS listened_seconds
        FROM public.listener_events e
        WHERE e.event_time >= since
        GROUP BY 1, 2, 3, 4
    ), upserted AS (
        INSERT INTO public.metrics_daily AS m
            (day, tenant_id, podcast_id, episode_id, events, plays, completes, listened_seconds)
        SELECT * FROM fresh
        ON CONFLICT (tenant_id, podcast_id, episode_id, day) DO UPDATE
            SET events = EXCLUDED.events, plays = EXCLUDED.plays, completes = EXCLUDED.completes,
                listened_seconds = EXCLUDED.listened_seconds
            -- an unchanged bucket is not rewritten (no dead tuple, no WAL)
            WHERE (m.events, m.plays, m.completes, m.listened_seconds)
                  IS DISTINCT FROM (EXCLUDED.events, EXCLUDED.plays, EXCLUDED.completes, EXCLUDED.listened_seconds)
        RETURNING 1
    ), deleted AS (
        -- buckets in the window whose events are all gone (a tenant purge, a re-ingest)
        DELETE FROM public.metrics_daily m
        WHERE m.day >= since
          AND NOT EXISTS (SELECT 1 FROM fresh f
                          WHERE f.tenant_id = m.tenant_id AND f.podcast_id = m.podcast_id
                            AND f.episode_id = m.episode_id AND f.day = m.day)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM upserted), (SELECT count(*) FROM deleted)
      INTO buckets_upserted, buckets_deleted;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION public.refresh_metrics_daily(interval) IS
    'Re-aggregates metrics_daily''s UTC days from now() - refresh_window on (NULL: all history) and '
    'upserts them; older buckets are left as they are. Row locks only. Table form (apache/plain) only.';
REVOKE ALL ON FUNCTION public.refresh_metrics_daily(interval) FROM PUBLIC;

DO $$
DECLARE
    tsl boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
                   AND current_setting('timescaledb.license', true) = 'timescale';
    is_cagg boolean := false;
    kind "char" := (SELECT relkind FROM pg_class WHERE oid = to_regclass('public.metrics_daily'));
    was_populated boolean;
    had_rls boolean;
    sum_before text;
    sum_after text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        is_cagg := EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
                           WHERE view_schema = 'public' AND view_name = 'metrics_daily');
    END IF;

    IF tsl AND NOT is_cagg THEN
        IF kind = 'm' THEN
            DROP VIEW IF EXISTS public.tenant_metrics_daily;
            DROP MATERIALIZED VIEW public.metrics_daily;
            RAISE NOTICE 'schemaflow: metrics_daily upgraded from materialized view to continuous aggregate';
        ELSIF kind = 'r' THEN
            DROP VIEW IF EXISTS public.tenant_metrics_daily;
            DROP TABLE public.metrics_daily;
            RAISE NOTICE 'schemaflow: metrics_daily upgraded from table to continuous aggregate';
        END IF;
        SELECT relrowsecurity INTO had_rls FROM pg_class WHERE oid = 'public.listener_events'::regclass;
        IF had_rls THEN
            ALTER TABLE public.listener_events DISABLE ROW LEVEL SECURITY;
        END IF;
        EXECUTE $cagg$
            CREATE MATERIALIZED VIEW public.metrics_daily
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(INTERVAL '1 day', event_time) AS day,
                   tenant_id,
                   podcast_id,
                   episode_id,
                   count(*) AS events,
                   count(*) FILTER (WHERE event_type = 'play') AS plays,
                   count(*) FILTER (WHERE event_type = 'complete') AS completes,
                   sum(duration_seconds)::bigint AS listened_seconds
            FROM public.listener_events
            GROUP BY 1, 2, 3, 4
            WITH NO DATA
        $cagg$;
        IF had_rls THEN
            ALTER TABLE public.listener_events ENABLE ROW LEVEL SECURITY;
        END IF;
        -- Continuous aggregates refuse UNIQUE indexes; GROUP BY already makes the key unique.
        CREATE INDEX IF NOT EXISTS uq_metrics_daily_key
            ON public.metrics_daily (tenant_id, podcast_id, episode_id, day);
        PERFORM add_continuous_aggregate_policy('public.metrics_daily',
            start_offset => INTERVAL '35 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
    ELSIF NOT tsl AND NOT is_cagg AND kind IS DISTINCT FROM 'r' THEN
        IF kind = 'm' THEN
            -- The old view steps aside under another name (its dependent view follows it by oid)
            -- and gives up its index name, so the table is born with the final names.
            was_populated := (SELECT ispopulated FROM pg_matviews
                              WHERE schemaname = 'public' AND matviewname = 'metrics_daily');
            ALTER MATERIALIZED VIEW public.metrics_daily RENAME TO metrics_daily_matview_upgrade;
            ALTER INDEX IF EXISTS public.uq_metrics_daily_key RENAME TO uq_metrics_daily_key_matview_upgrade;
        END IF;
        CREATE TABLE public.metrics_daily (
            day              timestamptz NOT NULL,
            tenant_id        uuid NOT NULL,
            podcast_id       uuid NOT NULL,
            episode_id       uuid NOT NULL,
            events           bigint NOT NULL,
            plays            bigint NOT NULL,
            completes        bigint NOT NULL,
            listened_seconds bigint
        );
        CREATE UNIQUE INDEX uq_metrics_daily_key
            ON public.metrics_daily (tenant_id, podcast_id, episode_id, day);
        IF kind = 'm' AND was_populated THEN
            INSERT INTO public.metrics_daily
                (day, tenant_id, podcast_id, episode_id, events, plays, completes, listened_seconds)
            SELECT day, tenant_id, podcast_id, episode_id, events, plays, completes, listened_seconds
            FROM public.metrics_daily_matview_upgrade;
            SELECT count(*) || ':' || md5(coalesce(string_agg(
                       concat_ws(',', day, tenant_id, podcast_id, episode_id, events, plays, completes,
                                 listened_seconds), '|' ORDER BY tenant_id, podcast_id, episode_id, day), ''))
              INTO sum_before FROM public.metrics_daily_matview_upgrade;
            SELECT count(*) || ':' || md5(coalesce(string_agg(
                       concat_ws(',', day, tenant_id, podcast_id, episode_id, events, plays, completes,
                                 listened_seconds), '|' ORDER BY tenant_id, podcast_id, episode_id, day), ''))
              INTO sum_after FROM public.metrics_daily;
            IF sum_before IS DISTINCT FROM sum_after THEN
                RAISE EXCEPTION 'metrics_daily upgrade: the table''s buckets differ from the view''s (% vs %)',
                                sum_after, sum_before
                    USING HINT = 'nothing was changed (the whole file rolls back); report this with both checksums';
            END IF;
        ELSE
            -- New, or an old view that was never populated: the first build is a full backfill.
            PERFORM public.refresh_metrics_daily(NULL);
        END IF;
        IF kind = 'm' THEN
            DROP VIEW IF EXISTS public.tenant_metrics_daily;
            DROP MATERIALIZED VIEW public.metrics_daily_matview_upgrade;
            RAISE NOTICE 'schemaflow: metrics_daily upgraded from materialized view to table (% buckets kept)',
                         split_part(sum_after, ':', 1);
        END IF;
    END IF;

    -- A continuous aggregate is a view in pg_class, the apache/plain form a table: comment accordingly.
    EXECUTE format('COMMENT ON %s public.metrics_daily IS %L',
        CASE (SELECT relkind FROM pg_class WHERE oid = 'public.metrics_daily'::regclass)
            WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
        'Daily listening per tenant/podcast/episode (UTC). No row-level security here: read it through '
        'tenant_metrics_daily. Kept current by its refresh policy (tsl) or refresh_metrics_daily() on a '
        'schedule (see the file header).');
END
$$;

-- ----------------------------------------------------------------------------------------------------
-- Tenant isolation (row-level security)
-- The application connects as (a login role granted) podcast_app and runs
--   SET app.tenant_id = '<tenant uuid>'
-- per request/transaction. Every tenant-scoped table gets the policy tenant_isolation: rows of the
-- current tenant only; no tenant set -> no rows. The table owner (the schema owner) is not subject
-- to RLS (no FORCE), so migrations, seeding and maintenance see everything.
-- Hypertable chunks copy the hypertable's table-level grants when they are created, but not its
-- policies (timescale/timescaledb#7830), and they live in _timescaledb_internal, where every role
-- must keep USAGE (TimescaleDB resolves its catalog through that schema in each session: without it
-- even an INSERT into the hypertable fails). So the isolation of chunks rests on privileges: see
-- "Privileges of the application role" below.
-- ----------------------------------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'podcast_app') THEN
        CREATE ROLE podcast_app NOLOGIN;
    END IF;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    -- Only when off: ENABLE ROW LEVEL SECURITY takes an ACCESS EXCLUSIVE lock, held to commit, even
    -- when RLS is already on (every deploy would otherwise block all reads of every tenant table).
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'public.tenants'::regclass) THEN
        ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_policies
                   WHERE schemaname = 'public' AND tablename = 'tenants' AND policyname = 'tenant_isolation') THEN
        CREATE POLICY tenant_isolation ON public.tenants
            USING (id = public.current_tenant_id())
            WITH CHECK (id = public.current_tenant_id());
    END IF;

    FOREACH t IN ARRAY ARRAY[
        'tenant_settings', 'tenant_quotas', 'subscriptions', 'invoices',
        'users', 'user_email_preferences', 'user_metrics', 'api_keys', 'audit_log',
        'podcasts', 'episodes', 'sponsors',
        'campaigns', 'campaign_placements', 'tracking_links', 'promo_codes',
        'deals', 'partnerships', 'referrals',
        'webhooks', 'webhook_deliveries', 'data_exports',
        'listener_events', 'attribution_events'
    ] LOOP
        IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = format('public.%I', t)::regclass) THEN
            EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_policies
                       WHERE schemaname = 'public' AND tablename = t AND policyname = 'tenant_isolation') THEN
            EXECUTE format('CREATE POLICY tenant_isolation ON public.%I '
                           'USING (tenant_id = public.current_tenant_id()) '
                           'WITH CHECK (tenant_id = public.current_tenant_id())', t);
        END IF;
    END LOOP;
END
$$;

-- metrics_daily cannot carry row-level security (PostgreSQL has none on materialized views, and
-- TimescaleDB none on continuous aggregates), so the application role gets no privilege on it and
-- reads it through this security-barrier view, which filters on the same session setting. The view
-- runs with its owner's rights (no security_invoker), which is what lets it read metrics_daily.
CREATE OR REPLACE VIEW public.tenant_metrics_daily WITH (security_barrier = true) AS
SELECT day, tenant_id, podcast_id, episode_id, events, plays, completes, listened_seconds
FROM public.metrics_daily
WHERE tenant_id = public.current_tenant_id();
COMMENT ON VIEW public.tenant_metrics_daily IS
    'metrics_daily for the tenant in app.tenant_id: the application role''s only way to read it.';

-- ----------------------------------------------------------------------------------------------------
-- Privileges of the application role (GRANT/REVOKE are idempotent).
-- ----------------------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO podcast_app;
-- Every table of the schema except the event tables and metrics_daily (handled below).
DO $$
DECLARE
    r regclass;
BEGIN
    FOR r IN SELECT c.oid::regclass FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND c.relname NOT IN ('listener_events', 'attribution_events', 'metrics_daily',
                                     'tenant_metrics_daily')
             ORDER BY c.oid LOOP
        IF NOT (has_table_privilege('podcast_app', r, 'SELECT') AND has_table_privilege('podcast_app', r, 'INSERT')
                AND has_table_privilege('podcast_app', r, 'UPDATE') AND has_table_privilege('podcast_app', r, 'DELETE')) THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO podcast_app', r);
        END IF;
    END LOOP;
END
$$;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO podcast_app;
REVOKE ALL ON public.metrics_daily FROM podcast_app;
REVOKE ALL ON public.tenant_metrics_daily FROM podcast_app;
GRANT SELECT ON public.tenant_metrics_daily TO podcast_app;
-- Append-only for the application: audit rows are never edited or removed by it.
REVOKE UPDATE, DELETE ON public.audit_log FROM podcast_app;
-- The price list is read-only for tenants.
REVOKE INSERT, UPDATE, DELETE ON public.plans FROM podcast_app;

-- The event hypertables: COLUMN privileges only, never table-level ones. TimescaleDB copies the
-- hypertable's table-level ACL (pg_class.relacl) onto every chunk it creates, including chunks an
-- application INSERT creates, and chunks have no row-level security; column privileges (attacl)
-- are not copied. So new chunks carry no privilege for the application, and it can neither read,
-- write nor see pg_stats of any chunk, while reads, INSERT and UPDATE through the hypertable (where
-- the policies apply) work. DELETE has no column form, so tenants purge events through
-- delete_tenant_events() below instead of holding DELETE (which new chunks would inherit: a bare
-- DELETE FROM <chunk> would then empty another tenant's day).
DO $$
DECLARE
    t text;
    cols text;
    granted bigint;
    ncols bigint;
BEGIN
    FOREACH t IN ARRAY ARRAY['listener_events', 'attribution_events'] LOOP
        IF EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) a
                   WHERE c.oid = format('public.%I', t)::regclass
                     AND (a.grantee = 0 OR a.grantee = 'podcast_app'::regrole)) THEN
            EXECUTE format('REVOKE ALL ON TABLE public.%I FROM PUBLIC, podcast_app', t);
            RAISE NOTICE 'schemaflow: table-level privileges of podcast_app on % revoked', t;
        END IF;
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), count(*),
               sum((SELECT count(DISTINCT x.privilege_type) FROM aclexplode(a.attacl) x
                    WHERE x.grantee = 'podcast_app'::regrole
                      AND x.privilege_type IN ('SELECT', 'INSERT', 'UPDATE')))
          INTO cols, ncols, granted
          FROM pg_attribute a
         WHERE a.attrelid = format('public.%I', t)::regclass AND a.attnum > 0 AND NOT a.attisdropped;
        IF granted IS DISTINCT FROM ncols * 3 THEN
            EXECUTE format('GRANT SELECT (%1$s), INSERT (%1$s), UPDATE (%1$s) ON public.%2$I TO podcast_app',
                           cols, t);
        END IF;
    END LOOP;
END
$$;

-- TimescaleDB's own relations: chunks (GRANT on a hypertable is also applied to its existing
-- chunks), catalog tables (PUBLIC may read them by default), the internal views, and in TSL mode
-- the continuous aggregate's materialization hypertable and its partial/direct views (the direct
-- view runs with its owner's rights: a way around every policy). The application role and PUBLIC
-- lose every privilege on all of them; the database owner keeps reading the catalog
-- (timescaledb_information's views keep working for everyone: they run as their owner and show
-- metadata, no tenant rows). Sequences are left alone (they hold ids, and TimescaleDB draws them).
-- Only relations that still grant something are touched, so a re-run changes nothing. A relation
-- this role may not change (the catalog belongs to the extension's owner) is reported, and
-- `schemaflow health` fails until its owner runs the REVOKE.
DO $$
DECLARE
    r record;
    is_super boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
    out_of_reach text[] := '{}';
    public_read text[] := '{}';
    their_owner text;
    closed integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOR r IN SELECT c.oid::regclass AS rel, c.relowner,
                    EXISTS (SELECT 1 FROM aclexplode(c.relacl) a
                            WHERE a.grantee = 0 AND a.privilege_type = 'SELECT') AS public_reads
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE (n.nspname LIKE '\_timescaledb\_%'
                    -- a chunk kept in another schema (create_hypertable's associated_schema_name)
                    OR c.oid IN (SELECT i.inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                                 WHERE p.relnamespace = 'public'::regnamespace))
               AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND (EXISTS (SELECT 1 FROM aclexplode(c.relacl) a
                            WHERE a.grantee = 0 OR a.grantee = 'podcast_app'::regrole)
                    OR EXISTS (SELECT 1 FROM pg_attribute att, aclexplode(att.attacl) a
                               WHERE att.attrelid = c.oid AND a.grantee = 'podcast_app'::regrole))
             ORDER BY c.oid LOOP
        IF is_super OR pg_has_role(current_user, r.relowner, 'USAGE') THEN
            EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, podcast_app', r.rel);
            IF r.public_reads THEN
                EXECUTE format('GRANT SELECT ON %s TO pg_database_owner', r.rel);
            END IF;
            closed := closed + 1;
        ELSE
            out_of_reach := out_of_reach || r.rel::text;
            public_read := public_read || CASE WHEN r.public_reads THEN r.rel::text END;
            their_owner := pg_get_userbyid(r.relowner);
        END IF;
    END LOOP;
    IF closed > 0 THEN
        RAISE NOTICE 'schemaflow: % TimescaleDB relation(s) closed to PUBLIC and podcast_app', closed;
    END IF;
    IF cardinality(out_of_reach) > 0 THEN
        RAISE WARNING 'schemaflow: the application role can still reach % TimescaleDB relation(s) this role does not own',
                      cardinality(out_of_reach)
            USING HINT = format('as %s (their owner), run: REVOKE ALL ON %s FROM PUBLIC, podcast_app; '
                                'GRANT SELECT ON %s TO pg_database_owner',
                                their_owner, array_to_string(out_of_reach, ', '),
                                array_to_string(public_read, ', '));
    END IF;
END
$$;

-- A tenant purges its own events here. As the application role a plain DELETE on a hypertable is
-- refused (no DELETE privilege, see above). It was also broken by TimescaleDB's planner whenever
-- the WHERE clause repeats the tenant: `WHERE tenant_id = '<uuid>'` next to the policy's
-- `tenant_id = current_tenant_id()` yields a constant-only qual, and the gating Result planned for
-- it fails with XX000 "variable not found in subplan target list" (timescale/timescaledb#6790,
-- #5475; fixed after 2.19). Planning comes before the privilege check, so such a DELETE still
-- reports XX000 rather than "permission denied"; either way nothing is deleted. This function runs
-- as the owner (no policies apply), which avoids both; the tenant comes only from app.tenant_id,
-- never from an argument, so no caller can name another tenant.
CREATE OR REPLACE FUNCTION public.delete_tenant_events(
    events text,
    from_time timestamptz DEFAULT '-infinity',
    to_time timestamptz DEFAULT 'infinity'
) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS
$$
DECLARE
    tenant uuid := public.current_tenant_id();
    deleted bigint;
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'app.tenant_id is not set'
            USING ERRCODE = 'insufficient_privilege', HINT = 'SET app.tenant_id to the tenant whose events go';
    END IF;
    IF events = 'listener_events' THEN
        DELETE FROM public.listener_events
        WHERE tenant_id = tenant AND event_time >= from_time AND event_time < to_time;
    ELSIF events = 'attribution_events' THEN
        DELETE FROM public.attribution_events
        WHERE tenant_id = tenant AND event_time >= from_time AND event_time < to_time;
    ELSE
        RAISE EXCEPTION 'delete_tenant_events: unknown event table %', events
            USING ERRCODE = 'invalid_parameter_value', HINT = 'use listener_events or attribution_events';
    END IF;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION public.delete_tenant_events(text, timestamptz, timestamptz) IS
    'Deletes the current tenant''s (app.tenant_id) events of one event table in [from_time, to_time); '
    'returns the rows deleted. The application role''s only way to delete events.';
REVOKE ALL ON FUNCTION public.delete_tenant_events(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.delete_tenant_events(text, timestamptz, timestamptz) TO podcast_app;
