-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.audit_log (id integer PRIMARY KEY, action text NOT NULL);
