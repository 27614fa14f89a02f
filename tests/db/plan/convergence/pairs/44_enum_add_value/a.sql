-- State A (the live database): the file's enum has a value the database's lacks (in the middle)
CREATE TYPE public.episode_status AS ENUM ('draft', 'published');
CREATE TABLE public.episodes (id integer PRIMARY KEY, status public.episode_status NOT NULL DEFAULT 'draft');
INSERT INTO public.episodes VALUES (1, 'draft'), (2, 'published');
