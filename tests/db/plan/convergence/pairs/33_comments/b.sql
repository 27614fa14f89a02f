-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, title text NOT NULL);
COMMENT ON TABLE public.episodes IS 'Episodes of a podcast, one row per published audio file.';
COMMENT ON COLUMN public.episodes.title IS 'Shown in the player; never empty.';
