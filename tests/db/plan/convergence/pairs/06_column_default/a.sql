-- State A (the live database): a column's default changed
CREATE TABLE public.episodes (id integer PRIMARY KEY, status text NOT NULL DEFAULT 'draft');
INSERT INTO public.episodes VALUES (1, 'draft'), (2, 'published');
