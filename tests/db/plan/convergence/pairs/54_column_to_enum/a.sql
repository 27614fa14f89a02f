-- State A (the live database): a text column becomes an enum (needs USING ...::type, and the type first)
CREATE TABLE public.episodes (id integer PRIMARY KEY, status text NOT NULL);
INSERT INTO public.episodes VALUES (1, 'draft'), (2, 'published');
