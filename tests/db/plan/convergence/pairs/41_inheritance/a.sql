-- State A (the live database): a yearly table inherits from its parent in the file, stands alone in the database
CREATE TABLE public.measurements (id integer NOT NULL, at timestamptz NOT NULL, value numeric);
CREATE TABLE public.measurements_2025 (id integer NOT NULL, at timestamptz NOT NULL, value numeric);
INSERT INTO public.measurements VALUES (1, '2024-06-01 00:00+00', 1.5);
INSERT INTO public.measurements_2025 VALUES (2, '2025-06-01 00:00+00', 2.5), (3, '2025-07-01 00:00+00', 3.5);
