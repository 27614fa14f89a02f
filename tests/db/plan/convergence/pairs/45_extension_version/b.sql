-- Desired file B (idempotent, like the master file).
CREATE EXTENSION IF NOT EXISTS hstore WITH VERSION '1.8';
CREATE TABLE IF NOT EXISTS public.settings (id integer PRIMARY KEY, kv public.hstore);
