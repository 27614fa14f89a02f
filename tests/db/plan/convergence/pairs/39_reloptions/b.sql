-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.counters (id integer PRIMARY KEY, n integer NOT NULL) WITH (fillfactor = 70);
