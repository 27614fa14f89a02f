-- State A (the live database): the application role's table grants differ: too few on one table, too many on another
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p32_app') THEN CREATE ROLE p32_app NOLOGIN; END IF;
END $$;

CREATE TABLE public.episodes (id integer PRIMARY KEY, title text);
CREATE TABLE public.secrets (id integer PRIMARY KEY, token text);
INSERT INTO public.episodes VALUES (1, 'a');
INSERT INTO public.secrets VALUES (1, 's3cr3t');
GRANT SELECT ON public.episodes TO p32_app;
GRANT ALL ON public.secrets TO p32_app;
