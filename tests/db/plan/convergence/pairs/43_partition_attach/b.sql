-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.readings (at timestamptz NOT NULL, sensor integer NOT NULL, value numeric) PARTITION BY RANGE (at);
CREATE TABLE IF NOT EXISTS public.readings_2025 PARTITION OF public.readings FOR VALUES FROM ('2025-01-01 00:00+00') TO ('2026-01-01 00:00+00');
CREATE TABLE IF NOT EXISTS public.readings_2026 PARTITION OF public.readings FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2027-01-01 00:00+00');
