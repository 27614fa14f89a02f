-- State A (the live database): a stored generated column's expression changed (PostgreSQL 15 cannot ALTER it)
CREATE TABLE public.line_items (
    id integer PRIMARY KEY,
    qty integer NOT NULL,
    unit_cents integer NOT NULL,
    total_cents integer GENERATED ALWAYS AS (qty * unit_cents) STORED
);
INSERT INTO public.line_items (id, qty, unit_cents) VALUES (1, 2, 500), (2, 1, 999);
