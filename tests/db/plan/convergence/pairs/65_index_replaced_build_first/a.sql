-- State A (the live database): an index the file defines over more columns (built anew before the old one goes)
CREATE TABLE public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL, published_at timestamptz);
INSERT INTO public.episodes SELECT i, i % 7, timestamptz '2026-01-01' + i * interval '1 day' FROM generate_series(1, 50) i;
ANALYZE public.episodes;
CREATE INDEX episodes_podcast_idx ON public.episodes (podcast_id);
