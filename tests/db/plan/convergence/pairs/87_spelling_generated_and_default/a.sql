-- State A (the live database): a generated column and an array default over varchar, created from the catalog's rendering
CREATE TABLE public.episodes (id integer PRIMARY KEY, status varchar(10) NOT NULL,
    is_open boolean GENERATED ALWAYS AS (((status)::text = ANY ((ARRAY['draft'::character varying, 'live'::character varying])::text[]))) STORED,
    tags varchar(20)[] DEFAULT ARRAY['x'::text, 'y'::text]);
INSERT INTO public.episodes (id, status) VALUES (1, 'draft');
