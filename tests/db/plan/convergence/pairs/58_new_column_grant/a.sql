-- State A (the live database): the file adds a column and grants it to the application role
CREATE ROLE p58_app NOLOGIN;
CREATE TABLE public.episodes (id integer PRIMARY KEY, title text);
INSERT INTO public.episodes VALUES (1, 'a');
GRANT SELECT (id, title) ON public.episodes TO p58_app;
