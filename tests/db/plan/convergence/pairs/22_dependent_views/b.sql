-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p22_reader') THEN CREATE ROLE p22_reader NOLOGIN; END IF;
END $$;

CREATE TABLE IF NOT EXISTS public.plays (id integer PRIMARY KEY, seconds bigint NOT NULL);
CREATE OR REPLACE VIEW public.play_seconds AS SELECT id, seconds FROM public.plays;
CREATE OR REPLACE VIEW public.long_plays AS SELECT id, seconds FROM public.play_seconds WHERE seconds > 60;
GRANT SELECT ON public.long_plays TO p22_reader;
COMMENT ON VIEW public.long_plays IS 'Plays longer than a minute.';
