-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p88_ops') THEN CREATE ROLE p88_ops NOLOGIN; END IF;
END $$;
CREATE SEQUENCE IF NOT EXISTS public.invoice_numbers;
CREATE OR REPLACE FUNCTION public.next_invoice() RETURNS bigint LANGUAGE sql AS 'SELECT nextval(''public.invoice_numbers'')';
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
GRANT USAGE ON SEQUENCE public.invoice_numbers TO p88_ops WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION public.next_invoice() TO p88_ops;
REVOKE GRANT OPTION FOR EXECUTE ON FUNCTION public.next_invoice() FROM p88_ops;
