-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.listens (id integer PRIMARY KEY, seconds bigint NOT NULL);
