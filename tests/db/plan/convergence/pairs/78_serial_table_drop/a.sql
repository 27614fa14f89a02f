-- State A (the live database): an empty table with a serial column that the file no longer has
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
CREATE TABLE public.scratchpad (id serial PRIMARY KEY, note text);
