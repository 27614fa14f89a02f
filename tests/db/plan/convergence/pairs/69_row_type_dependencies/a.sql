-- State A (the live database): the file adds a table with a column of another table's row type, and a domain over it
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
