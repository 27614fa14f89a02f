-- State A (the live database): B adds a UNIQUE constraint (the live rows are unique)
CREATE TABLE public.users (id integer PRIMARY KEY, email text NOT NULL);
INSERT INTO public.users VALUES (1, 'a@example.com'), (2, 'b@example.com');
