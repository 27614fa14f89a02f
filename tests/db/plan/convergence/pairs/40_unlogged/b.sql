-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.import_staging (id integer PRIMARY KEY, payload text);
