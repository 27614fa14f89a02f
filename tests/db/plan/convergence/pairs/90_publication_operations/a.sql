-- State A (the live database): a publication the file declares publishes deletes the file leaves out
CREATE TABLE public.episodes (id integer PRIMARY KEY, title text);
INSERT INTO public.episodes VALUES (1, 'a');
CREATE PUBLICATION p90_feed FOR TABLE public.episodes;
