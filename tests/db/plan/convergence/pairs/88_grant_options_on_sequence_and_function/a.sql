-- State A (the live database): a sequence and a function are granted to a role without the grant option the file gives
CREATE ROLE p88_ops NOLOGIN;
CREATE SEQUENCE public.invoice_numbers;
CREATE FUNCTION public.next_invoice() RETURNS bigint LANGUAGE sql AS 'SELECT nextval(''public.invoice_numbers'')';
GRANT USAGE ON SEQUENCE public.invoice_numbers TO p88_ops;
GRANT EXECUTE ON FUNCTION public.next_invoice() TO p88_ops WITH GRANT OPTION;
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
