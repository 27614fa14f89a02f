-- State A (the live database): B adds a composite foreign key (tenant_id, podcast_id)
CREATE TABLE public.podcasts (tenant_id integer, id integer, title text, PRIMARY KEY (tenant_id, id));
CREATE TABLE public.episodes (tenant_id integer NOT NULL, id integer PRIMARY KEY, podcast_id integer NOT NULL);
INSERT INTO public.podcasts VALUES (1, 1, 'one'), (2, 1, 'other tenant');
INSERT INTO public.episodes VALUES (1, 10, 1), (2, 11, 1);
