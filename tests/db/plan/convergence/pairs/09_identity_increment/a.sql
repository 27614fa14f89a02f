-- State A (the live database): an identity column's sequence options: SET INCREMENT BY 10 in the file
CREATE TABLE public.audit_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, action text NOT NULL);
INSERT INTO public.audit_log (action) VALUES ('login'), ('logout');
