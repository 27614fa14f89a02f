-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.podcasts (id integer NOT NULL, slug text NOT NULL, CONSTRAINT podcasts_pkey PRIMARY KEY (id));
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL
    CONSTRAINT episodes_podcast_id_fkey REFERENCES public.podcasts (id));
