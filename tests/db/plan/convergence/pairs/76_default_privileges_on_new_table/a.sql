-- State A (the live database): default privileges hand every new table to a reporting role; the file grants the new one less
CREATE ROLE p76_reader NOLOGIN;
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, UPDATE ON TABLES TO p76_reader;
