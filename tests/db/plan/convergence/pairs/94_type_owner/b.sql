-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p94_other') THEN CREATE ROLE p94_other NOLOGIN; END IF;
    IF to_regtype('public.tier') IS NULL THEN CREATE TYPE public.tier AS ENUM ('free', 'pro'); END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.plans (id integer PRIMARY KEY, tier public.tier);
