-- State A (the live database): a domain has a default the file does not give it
CREATE DOMAIN public.cents AS bigint DEFAULT 100 CHECK (VALUE >= 0);
CREATE TABLE public.prices (id integer PRIMARY KEY, amount public.cents);
INSERT INTO public.prices VALUES (1, 5);
