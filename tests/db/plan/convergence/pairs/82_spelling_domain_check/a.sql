-- State A (the live database): a domain CHECK on varchar, created from the text the catalog renders (as a plan does)
CREATE DOMAIN public.status AS varchar(10)
    CONSTRAINT status_check CHECK (VALUE::text = ANY (ARRAY['draft'::character varying, 'live'::character varying]::text[]));
CREATE TABLE public.episodes (id integer PRIMARY KEY, status public.status);
INSERT INTO public.episodes VALUES (1, 'draft');
