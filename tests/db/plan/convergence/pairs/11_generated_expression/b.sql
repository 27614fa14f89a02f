-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.line_items (
    id integer PRIMARY KEY,
    qty integer NOT NULL,
    unit_cents integer NOT NULL,
    total_cents integer GENERATED ALWAYS AS (qty * unit_cents + 100) STORED
);
