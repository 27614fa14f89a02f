-- State A (the live database): the live database has an empty leftover table the file does not have
CREATE TABLE public.podcasts (id integer PRIMARY KEY, title text NOT NULL);
INSERT INTO public.podcasts VALUES (1, 'Daily Data'), (2, 'Night Shift');
CREATE TABLE public.legacy_imports (id integer PRIMARY KEY, payload text);
