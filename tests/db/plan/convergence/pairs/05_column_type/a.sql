-- State A (the live database): a column widened from integer to bigint
CREATE TABLE public.listens (id integer PRIMARY KEY, seconds integer NOT NULL);
INSERT INTO public.listens VALUES (1, 30), (2, 3600), (3, 0);
