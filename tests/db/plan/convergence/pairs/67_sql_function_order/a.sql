-- State A (the live database): the file adds a SQL function whose body calls another function the file adds
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
