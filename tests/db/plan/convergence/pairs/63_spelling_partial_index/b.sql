-- Desired file B (idempotent, like the master file): the same partial index, spelled with IN.
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, status varchar(20) NOT NULL);
CREATE INDEX IF NOT EXISTS episodes_open_idx ON public.episodes (id) WHERE status IN ('draft', 'live');
