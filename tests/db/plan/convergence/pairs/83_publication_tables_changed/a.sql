-- State A (the live database): a publication the file declares streams a table the file keeps out of it, and lacks one
CREATE TABLE public.episodes (id integer PRIMARY KEY, title text);
CREATE TABLE public.api_keys (id integer PRIMARY KEY, secret text NOT NULL);
INSERT INTO public.episodes VALUES (1, 'a');
CREATE PUBLICATION p83_feed FOR TABLE public.api_keys;
