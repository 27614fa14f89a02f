-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.measurements (id integer NOT NULL, value numeric);
CREATE TABLE IF NOT EXISTS public.measurements_2025 () INHERITS (public.measurements);
ALTER TABLE public.measurements ADD COLUMN IF NOT EXISTS unit text NOT NULL DEFAULT 'ms';
