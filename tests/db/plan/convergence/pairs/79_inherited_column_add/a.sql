-- State A (the live database): the file adds a column to a parent table whose inheritance child must get it too
CREATE TABLE public.measurements (id integer NOT NULL, value numeric);
CREATE TABLE public.measurements_2025 () INHERITS (public.measurements);
INSERT INTO public.measurements VALUES (1, 1.5);
INSERT INTO public.measurements_2025 VALUES (2, 2.5);
