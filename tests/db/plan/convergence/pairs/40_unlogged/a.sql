-- State A (the live database): a staging table is UNLOGGED in the database, logged in the file
CREATE UNLOGGED TABLE public.import_staging (id integer PRIMARY KEY, payload text);
INSERT INTO public.import_staging VALUES (1, 'row one'), (2, 'row two');
