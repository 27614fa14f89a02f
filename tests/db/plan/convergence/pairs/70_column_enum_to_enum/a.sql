-- State A (the live database): a column of one enum type that the file moves to another enum type
CREATE TYPE public.mood_v1 AS ENUM ('happy', 'sad');
CREATE TYPE public.mood_v2 AS ENUM ('happy', 'sad', 'meh');
CREATE TABLE public.reviews (id integer PRIMARY KEY, mood public.mood_v1 NOT NULL);
INSERT INTO public.reviews VALUES (1, 'happy'), (2, 'sad');
