-- State A (the live database): B adds a foreign key (the live rows satisfy it)
CREATE TABLE public.podcasts (id integer PRIMARY KEY, title text NOT NULL);
INSERT INTO public.podcasts VALUES (1, 'Daily Data'), (2, 'Night Shift');

CREATE TABLE public.episodes (id integer PRIMARY KEY, podcast_id integer NOT NULL);
INSERT INTO public.episodes VALUES (10, 1), (11, 2);
