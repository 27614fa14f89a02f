-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.podcasts (id integer PRIMARY KEY, title text NOT NULL);

CREATE TABLE IF NOT EXISTS public.episodes (
    id integer PRIMARY KEY,
    podcast_id integer NOT NULL REFERENCES public.podcasts (id),
    title text NOT NULL
);
