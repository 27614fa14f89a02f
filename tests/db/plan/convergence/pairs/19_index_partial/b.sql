-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.jobs (id integer PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS idx_jobs_waiting ON public.jobs (created_at) WHERE status IN ('pending', 'retry');
