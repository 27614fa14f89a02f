-- State A (the live database): a composite type's attribute has another type than the file's, and an extra attribute
CREATE TYPE public.span AS (starts date, ends date, note text);
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
