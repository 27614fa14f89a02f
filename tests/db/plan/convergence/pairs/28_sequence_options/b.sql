-- Desired file B (idempotent, like the master file).
CREATE SEQUENCE IF NOT EXISTS public.invoice_numbers START 1000 INCREMENT BY 5 MAXVALUE 9999999;
