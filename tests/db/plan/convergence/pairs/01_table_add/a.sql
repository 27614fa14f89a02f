-- State A (the live database): B adds a table with a foreign key to an existing one
CREATE TABLE public.podcasts (id integer PRIMARY KEY, title text NOT NULL);
INSERT INTO public.podcasts VALUES (1, 'Daily Data'), (2, 'Night Shift');
