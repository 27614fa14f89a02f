-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.invoices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cents integer NOT NULL
);
