-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.referrals (id integer PRIMARY KEY, code text NOT NULL UNIQUE, tenant_id integer NOT NULL);
