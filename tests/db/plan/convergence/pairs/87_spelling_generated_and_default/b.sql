-- Desired file B (idempotent, like the master file): the same columns as a person writes them.
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, status varchar(10) NOT NULL,
    is_open boolean GENERATED ALWAYS AS (status IN ('draft', 'live')) STORED,
    tags varchar(20)[] DEFAULT ARRAY['x', 'y']);
