-- State A (the live database): the file adds an aggregate (and its state function); the database has neither
CREATE TABLE public.episodes (id integer PRIMARY KEY, seconds integer);
INSERT INTO public.episodes VALUES (1, 30), (2, 90);
