-- State A (the live database): B has no primary key and a nullable column: the key must go before DROP NOT NULL
CREATE TABLE public.tags (name text PRIMARY KEY, note text);
INSERT INTO public.tags VALUES ('news', NULL), ('tech', 'weekly');
