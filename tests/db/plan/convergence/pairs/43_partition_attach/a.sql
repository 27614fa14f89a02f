-- State A (the live database): a table that is a partition in the file stands alone in the database, with rows in range
CREATE TABLE public.readings (at timestamptz NOT NULL, sensor integer NOT NULL, value numeric) PARTITION BY RANGE (at);
CREATE TABLE public.readings_2025 PARTITION OF public.readings FOR VALUES FROM ('2025-01-01 00:00+00') TO ('2026-01-01 00:00+00');
INSERT INTO public.readings VALUES ('2025-03-01 00:00+00', 1, 0.5), ('2025-04-01 00:00+00', 2, 0.7);

CREATE TABLE public.readings_2026 (at timestamptz NOT NULL, sensor integer NOT NULL, value numeric);
INSERT INTO public.readings_2026 VALUES ('2026-02-01 00:00+00', 3, 1.25);
