-- State A (the live database): a unique index the file defines over other columns (built first, then swapped)
CREATE TABLE public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL, number integer NOT NULL, season integer);
INSERT INTO public.episodes SELECT i, i % 5, i, 1 FROM generate_series(1, 40) i;
ANALYZE public.episodes;
CREATE UNIQUE INDEX episodes_number_key ON public.episodes (number);
