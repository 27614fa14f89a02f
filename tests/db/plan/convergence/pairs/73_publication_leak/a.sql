-- State A (the live database): a publication the file does not declare streams the API keys out (logical replication)
CREATE TABLE public.api_keys (id integer PRIMARY KEY, secret text NOT NULL);
INSERT INTO public.api_keys VALUES (1, 'k-1');
CREATE PUBLICATION p73_everything FOR TABLE public.api_keys;
