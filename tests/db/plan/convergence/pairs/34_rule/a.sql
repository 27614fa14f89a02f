-- State A (the live database): a DO INSTEAD NOTHING rule silently discards audit rows in the database
CREATE TABLE public.audit_log (id integer PRIMARY KEY, action text NOT NULL);
INSERT INTO public.audit_log VALUES (1, 'login');
CREATE RULE audit_log_discard AS ON INSERT TO public.audit_log DO INSTEAD NOTHING;
