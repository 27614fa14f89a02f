-- Desired file B (idempotent, like the master file).
CREATE SEQUENCE IF NOT EXISTS public.order_ids;
CREATE TABLE IF NOT EXISTS public.orders (id integer PRIMARY KEY DEFAULT nextval('public.order_ids'), item text);
ALTER SEQUENCE public.order_ids OWNED BY public.orders.id;
