-- State A (the live database): a partial index's predicate changed
CREATE TABLE public.jobs (id integer PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO public.jobs (id, status) VALUES (1, 'pending'), (2, 'retry'), (3, 'done');
CREATE INDEX idx_jobs_waiting ON public.jobs (created_at) WHERE status = 'pending';
