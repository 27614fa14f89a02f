-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.api_keys (id integer PRIMARY KEY, secret text NOT NULL);
