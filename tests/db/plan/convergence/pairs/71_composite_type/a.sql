-- State A (the live database): a composite type lacks an attribute the file gives it, and another composite type is missing
CREATE TYPE public.money_amount AS (cents bigint);
CREATE TABLE public.invoices (id integer PRIMARY KEY, total public.money_amount);
INSERT INTO public.invoices VALUES (1, NULL);  -- a value would read (4900,) once the type grows
