-- State A (the live database): a table comment differs and a column comment is missing
CREATE TABLE public.episodes (id integer PRIMARY KEY, title text NOT NULL);
INSERT INTO public.episodes VALUES (1, 'a');
COMMENT ON TABLE public.episodes IS 'old text';
