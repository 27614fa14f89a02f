-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL, published_at timestamptz);
CREATE INDEX IF NOT EXISTS episodes_podcast_idx ON public.episodes (podcast_id, published_at DESC);
