-- State A (the live database): a partitioned table whose partitions lack the index the file builds ON ONLY the parent and attaches
CREATE TABLE public.plays (day date NOT NULL, episode_id integer NOT NULL, seconds integer) PARTITION BY RANGE (day);
CREATE TABLE public.plays_2025 PARTITION OF public.plays FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.plays_2026 PARTITION OF public.plays FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.plays VALUES ('2025-03-01', 1, 30), ('2026-03-01', 2, 60);
