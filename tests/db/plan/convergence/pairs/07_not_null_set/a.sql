-- State A (the live database): B makes a column NOT NULL (the live rows have no NULLs)
CREATE TABLE public.users (id integer PRIMARY KEY, email text);
INSERT INTO public.users VALUES (1, 'a@example.com'), (2, 'b@example.com');
