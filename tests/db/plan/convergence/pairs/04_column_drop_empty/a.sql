-- State A (the live database): the live table has an extra column, and no rows (dropping it loses nothing)
CREATE TABLE public.podcasts (id integer PRIMARY KEY, title text NOT NULL);
INSERT INTO public.podcasts VALUES (1, 'Daily Data'), (2, 'Night Shift');
CREATE TABLE public.episodes (id integer PRIMARY KEY, title text NOT NULL, legacy_flag boolean);
