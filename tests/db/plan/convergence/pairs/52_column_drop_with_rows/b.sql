-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.users (id integer PRIMARY KEY, name text NOT NULL);
