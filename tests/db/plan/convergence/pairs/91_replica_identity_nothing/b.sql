-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.audit_log (id integer PRIMARY KEY, note text);
ALTER TABLE public.audit_log REPLICA IDENTITY NOTHING;
