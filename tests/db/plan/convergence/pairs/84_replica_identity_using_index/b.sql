-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, slug text NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS episodes_slug_key ON public.episodes (slug);
ALTER TABLE public.episodes REPLICA IDENTITY USING INDEX episodes_slug_key;
