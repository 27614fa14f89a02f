-- State A (the live database): a CHECK constraint's expression changed (same name)
CREATE TABLE public.quotas (id integer PRIMARY KEY, used integer NOT NULL, CONSTRAINT quotas_used_check CHECK (used >= 0));
INSERT INTO public.quotas VALUES (1, 0), (2, 500);
