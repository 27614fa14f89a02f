-- State A (the live database): a UNIQUE key, referenced by a foreign key, that the file makes the primary key
CREATE TABLE public.podcasts (id integer NOT NULL, slug text NOT NULL, CONSTRAINT podcasts_id_key UNIQUE (id));
CREATE TABLE public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL
    CONSTRAINT episodes_podcast_id_fkey REFERENCES public.podcasts (id));
INSERT INTO public.podcasts VALUES (1, 'a'), (2, 'b');
INSERT INTO public.episodes VALUES (10, 1), (11, 2);
