-- State A (the live database): a column has another name (same type, same position): plan a RENAME COLUMN
CREATE TABLE public.episodes (id integer PRIMARY KEY, name text NOT NULL, minutes integer);
INSERT INTO public.episodes VALUES (1, 'Pilot', 30), (2, 'Finale', 45);
