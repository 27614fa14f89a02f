-- State A (the live database): a table-level grant the file narrows to one column (the table-level REVOKE wipes column grants)
CREATE ROLE p59_app NOLOGIN;
CREATE TABLE public.api_keys (id integer PRIMARY KEY, label text, secret text);
INSERT INTO public.api_keys VALUES (1, 'ci', 'xyz');
GRANT SELECT ON public.api_keys TO p59_app;
GRANT SELECT (label) ON public.api_keys TO p59_app;
