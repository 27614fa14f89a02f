-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.plays (day date NOT NULL, source text, seconds integer) PARTITION BY RANGE (day);
CREATE TABLE IF NOT EXISTS public.plays_2026 PARTITION OF public.plays (source DEFAULT 'app', seconds NOT NULL)
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
