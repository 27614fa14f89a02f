-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p72_app') THEN CREATE ROLE p72_app NOLOGIN; END IF;
    IF to_regtype('public.tier') IS NULL THEN CREATE TYPE public.tier AS ENUM ('free', 'pro'); END IF;
    IF to_regtype('public.cents') IS NULL THEN CREATE DOMAIN public.cents AS bigint CHECK (VALUE >= 0); END IF;
END $$;
ALTER DOMAIN public.cents SET DEFAULT 0;
REVOKE USAGE ON TYPE public.tier FROM PUBLIC;
GRANT USAGE ON TYPE public.tier TO p72_app;
REVOKE USAGE ON DOMAIN public.cents FROM PUBLIC;
CREATE TABLE IF NOT EXISTS public.prices (id integer PRIMARY KEY, tier public.tier, amount public.cents);
