-- Desired file B (idempotent): PostgreSQL 18's NOT NULL constraints with a name, NOT VALID, NO INHERIT.
CREATE TABLE IF NOT EXISTS public.listeners (
    id integer PRIMARY KEY,
    email text CONSTRAINT listeners_email_required NOT NULL,
    country text NOT NULL NO INHERIT,
    region text,
    city text
);
-- NOT VALID: rows from before the rule may lack a region; new rows must have one.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'listeners_region_set') THEN
        ALTER TABLE public.listeners DROP CONSTRAINT IF EXISTS listeners_region_not_null;
        ALTER TABLE public.listeners ADD CONSTRAINT listeners_region_set NOT NULL region NOT VALID;
    END IF;
END $$;
