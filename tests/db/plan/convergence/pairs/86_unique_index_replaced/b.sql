-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL, number integer NOT NULL, season integer);
CREATE UNIQUE INDEX IF NOT EXISTS episodes_number_key ON public.episodes (podcast_id, number);
