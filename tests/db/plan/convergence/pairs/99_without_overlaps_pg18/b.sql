-- Desired file B (idempotent): PostgreSQL 18's temporal keys, PRIMARY KEY and UNIQUE WITHOUT OVERLAPS.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE IF NOT EXISTS public.ad_slots (
    podcast_id integer NOT NULL,
    during tstzrange NOT NULL,
    sponsor text NOT NULL,
    CONSTRAINT ad_slots_pkey PRIMARY KEY (podcast_id, during WITHOUT OVERLAPS)
);
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'ad_slots_pkey') THEN
        ALTER TABLE public.ad_slots ADD CONSTRAINT ad_slots_pkey PRIMARY KEY (podcast_id, during WITHOUT OVERLAPS);
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.sponsor_terms (
    sponsor text NOT NULL,
    valid daterange NOT NULL,
    rate numeric NOT NULL,
    CONSTRAINT sponsor_terms_sponsor_valid_key UNIQUE (sponsor, valid WITHOUT OVERLAPS)
);
