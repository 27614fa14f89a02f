-- State A (the live database): a policy over a varchar IN list, created from the catalog's rendering
CREATE TABLE public.episodes (id integer PRIMARY KEY, status varchar(20) NOT NULL);
INSERT INTO public.episodes VALUES (1, 'draft');
ALTER TABLE public.episodes ENABLE ROW LEVEL SECURITY;
CREATE POLICY episodes_visible ON public.episodes FOR SELECT
    USING (((status)::text = ANY ((ARRAY['draft'::character varying, 'live'::character varying])::text[])));
