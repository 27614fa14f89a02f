-- State A (the live database): a default's sequence is OWNED BY its column in the file, by nothing in the database
CREATE SEQUENCE public.order_ids;
CREATE TABLE public.orders (id integer PRIMARY KEY DEFAULT nextval('public.order_ids'), item text);
INSERT INTO public.orders (item) VALUES ('mic'), ('cable');
