-- State A (the live database): the file creates an extension at a pinned older version: CREATE EXTENSION must name it
CREATE TABLE public.users (id integer PRIMARY KEY, email text NOT NULL);
INSERT INTO public.users VALUES (1, 'Ada@Example.com');
