-- State A (the live database): ad slots without a key on their time range
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE public.ad_slots (
    podcast_id integer NOT NULL,
    during tstzrange NOT NULL,
    sponsor text NOT NULL
);
INSERT INTO public.ad_slots VALUES
    (1, tstzrange('2024-01-01', '2024-02-01'), 'acme'),
    (1, tstzrange('2024-02-01', '2024-03-01'), 'globex');
