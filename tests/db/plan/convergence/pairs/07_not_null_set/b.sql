-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.users (id integer PRIMARY KEY, email text NOT NULL);
