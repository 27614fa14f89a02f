-- State A (the live database): an empty table keeps a serial column the file no longer has (its sequence goes with it)
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
CREATE TABLE public.drafts (id integer PRIMARY KEY, legacy_no serial, note text);
