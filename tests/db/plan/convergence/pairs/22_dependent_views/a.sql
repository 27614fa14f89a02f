-- State A (the live database): a column under two stacked views changes type: both views go and come back, grant and comment kept
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p22_reader') THEN CREATE ROLE p22_reader NOLOGIN; END IF;
END $$;

CREATE TABLE public.plays (id integer PRIMARY KEY, seconds integer NOT NULL);
INSERT INTO public.plays VALUES (1, 30), (2, 300);
CREATE VIEW public.play_seconds AS SELECT id, seconds FROM public.plays;
CREATE VIEW public.long_plays AS SELECT id, seconds FROM public.play_seconds WHERE seconds > 60;
GRANT SELECT ON public.long_plays TO p22_reader;
COMMENT ON VIEW public.long_plays IS 'Plays longer than a minute.';
