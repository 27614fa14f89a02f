-- State A (the live database): a column's collation changed to "C"
CREATE TABLE public.podcasts (id integer PRIMARY KEY, slug text NOT NULL);
INSERT INTO public.podcasts VALUES (1, 'b-side'), (2, 'A-team');
