-- State A (the live database): the file sets fillfactor = 70 on a table
CREATE TABLE public.counters (id integer PRIMARY KEY, n integer NOT NULL);
INSERT INTO public.counters VALUES (1, 5), (2, 7);
