-- State A (the live database): the file adds a domain whose CHECK calls a function it adds
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
