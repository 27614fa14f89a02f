-- State A (the live database): a table replicates with the default identity; the file names a unique index
CREATE TABLE public.episodes (id integer PRIMARY KEY, slug text NOT NULL);
CREATE UNIQUE INDEX episodes_slug_key ON public.episodes (slug);
INSERT INTO public.episodes VALUES (1, 'a');
