-- State A (the live database): plain NOT NULL columns, as any server before 18 names them
CREATE TABLE public.listeners (
    id integer PRIMARY KEY,
    email text NOT NULL,
    country text NOT NULL,
    region text NOT NULL,
    city text
);
INSERT INTO public.listeners VALUES (1, 'a@example.com', 'NL', 'NH', 'Amsterdam'), (2, 'b@example.com', 'BE', 'VL', NULL);
