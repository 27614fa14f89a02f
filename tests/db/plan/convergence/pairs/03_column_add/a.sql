-- State A (the live database): B adds a NOT NULL column with a constant default
CREATE TABLE public.episodes (id integer PRIMARY KEY, title text NOT NULL);
INSERT INTO public.episodes VALUES (1, 'Pilot'), (2, 'Second');
