-- State A (the live database): a partial index over a varchar IN list, created from the catalog's rendering
CREATE TABLE public.episodes (id integer PRIMARY KEY, status varchar(20) NOT NULL);
INSERT INTO public.episodes VALUES (1, 'draft');
CREATE INDEX episodes_open_idx ON public.episodes USING btree (id)
    WHERE ((status)::text = ANY ((ARRAY['draft'::character varying, 'live'::character varying])::text[]));
