-- State A (the live database): an index's columns changed under the same name
CREATE TABLE public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL, published_at timestamptz);
INSERT INTO public.episodes VALUES (1, 1, '2026-01-01'), (2, 1, NULL);
CREATE INDEX idx_episodes_podcast ON public.episodes (podcast_id);
