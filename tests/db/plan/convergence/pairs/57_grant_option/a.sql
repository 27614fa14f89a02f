-- State A (the live database): a privilege the file grants WITH GRANT OPTION is held without it, another with it
CREATE ROLE p57_app NOLOGIN;
CREATE TABLE public.episodes (id integer PRIMARY KEY, title text);
INSERT INTO public.episodes VALUES (1, 'a');
GRANT SELECT ON public.episodes TO p57_app;
GRANT UPDATE ON public.episodes TO p57_app WITH GRANT OPTION;
GRANT SELECT (title) ON public.episodes TO p57_app WITH GRANT OPTION;
