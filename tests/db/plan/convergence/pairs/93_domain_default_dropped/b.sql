-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF to_regtype('public.cents') IS NULL THEN CREATE DOMAIN public.cents AS bigint CHECK (VALUE >= 0); END IF;
END $$;
ALTER DOMAIN public.cents DROP DEFAULT;
CREATE TABLE IF NOT EXISTS public.prices (id integer PRIMARY KEY, amount public.cents);
