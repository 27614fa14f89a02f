-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.podcasts (id integer PRIMARY KEY, slug text COLLATE "C" NOT NULL);
