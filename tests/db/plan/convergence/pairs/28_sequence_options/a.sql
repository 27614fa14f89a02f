-- State A (the live database): a sequence's INCREMENT and MAXVALUE differ
CREATE SEQUENCE public.invoice_numbers START 1000;
SELECT nextval('public.invoice_numbers') FROM generate_series(1, 3);
