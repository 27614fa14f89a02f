-- State A (the live database): the database has a column holding values the file does not have: never dropped without permission
CREATE TABLE public.users (id integer PRIMARY KEY, name text NOT NULL, legacy_phone text);
INSERT INTO public.users VALUES (1, 'Ada', '+44 20 7946 0000'), (2, 'Alan', NULL);
