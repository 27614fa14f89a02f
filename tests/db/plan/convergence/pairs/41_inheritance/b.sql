-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.measurements (id integer NOT NULL, at timestamptz NOT NULL, value numeric);
CREATE TABLE IF NOT EXISTS public.measurements_2025 (id integer NOT NULL, at timestamptz NOT NULL, value numeric)
    INHERITS (public.measurements);
