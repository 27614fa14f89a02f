-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
CREATE TABLE IF NOT EXISTS public.drafts (id integer PRIMARY KEY, note text);
