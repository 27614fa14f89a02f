-- State A (the live database): B has an index the database lacks and lacks one the database has
CREATE TABLE public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL, published_at timestamptz);
INSERT INTO public.episodes VALUES (1, 1, '2026-01-01'), (2, 1, NULL);
CREATE INDEX idx_episodes_published ON public.episodes (published_at);
