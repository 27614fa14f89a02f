-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF to_regtype('public.money_amount') IS NULL THEN CREATE TYPE public.money_amount AS (cents bigint, currency text); END IF;
    IF to_regtype('public.period') IS NULL THEN CREATE TYPE public.period AS (starts date, ends date); END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'public.money_amount'::regtype)
                   AND attname = 'currency' AND NOT attisdropped) THEN
        ALTER TYPE public.money_amount ADD ATTRIBUTE currency text;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.invoices (id integer PRIMARY KEY, total public.money_amount);
