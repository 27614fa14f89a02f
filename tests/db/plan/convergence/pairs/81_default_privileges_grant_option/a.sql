-- State A (the live database): default privileges give a role SELECT on new tables, the file gives it WITH GRANT OPTION
CREATE ROLE p81_lead NOLOGIN;
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO p81_lead;
