-- State A (the live database): a STORED generated column
CREATE TABLE public.episodes (
    id integer PRIMARY KEY,
    seconds integer NOT NULL,
    minutes integer GENERATED ALWAYS AS (seconds / 60) STORED
);
INSERT INTO public.episodes (id, seconds) VALUES (1, 3600), (2, 90);
