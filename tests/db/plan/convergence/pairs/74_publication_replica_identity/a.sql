-- State A (the live database): the file publishes one table with full replica identity; the database has neither
CREATE TABLE public.episodes (id integer PRIMARY KEY, title text);
CREATE TABLE public.api_keys (id integer PRIMARY KEY, secret text NOT NULL);
INSERT INTO public.episodes VALUES (1, 'a');
