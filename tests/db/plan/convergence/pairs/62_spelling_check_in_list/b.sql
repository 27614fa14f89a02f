-- Desired file B (idempotent, like the master file): the same CHECK, spelled with IN.
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, status varchar(20) NOT NULL,
    CONSTRAINT episodes_status_check CHECK (status IN ('draft', 'live')));
