-- State A (the live database): a table replicates its old rows in full; the file says nothing of them
CREATE TABLE public.audit_log (id integer PRIMARY KEY, note text);
INSERT INTO public.audit_log VALUES (1, 'a');
ALTER TABLE public.audit_log REPLICA IDENTITY FULL;
