-- State A (the live database): a CHECK on a varchar column, created from the text the catalog renders (as a plan creates it)
CREATE TABLE public.episodes (id integer PRIMARY KEY, status varchar(20) NOT NULL,
    CONSTRAINT episodes_status_check
        CHECK (status::text = ANY (ARRAY['draft'::character varying, 'live'::character varying]::text[])));
INSERT INTO public.episodes VALUES (1, 'draft');
