-- State A (the live database): hstore is at 1.7 in the database, the file pins 1.8
CREATE EXTENSION hstore WITH VERSION '1.7';
CREATE TABLE public.settings (id integer PRIMARY KEY, kv public.hstore);
INSERT INTO public.settings VALUES (1, 'a=>1, b=>2');
