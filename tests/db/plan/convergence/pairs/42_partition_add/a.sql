-- State A (the live database): the file has one more partition of a range-partitioned table
CREATE TABLE public.readings (at timestamptz NOT NULL, sensor integer NOT NULL, value numeric) PARTITION BY RANGE (at);
CREATE TABLE public.readings_2025 PARTITION OF public.readings FOR VALUES FROM ('2025-01-01 00:00+00') TO ('2026-01-01 00:00+00');
INSERT INTO public.readings VALUES ('2025-03-01 00:00+00', 1, 0.5), ('2025-04-01 00:00+00', 2, 0.7);
