-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.quotas (
    id integer PRIMARY KEY,
    used integer NOT NULL,
    CONSTRAINT quotas_used_check CHECK (used >= 0 AND used <= 1000000)
);
