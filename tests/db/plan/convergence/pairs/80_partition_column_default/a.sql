-- State A (the live database): a partition lacks the column default the file gives it (PARTITION OF ... (col DEFAULT ...))
CREATE TABLE public.plays (day date NOT NULL, source text, seconds integer) PARTITION BY RANGE (day);
CREATE TABLE public.plays_2026 PARTITION OF public.plays FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.plays VALUES ('2026-03-01', 'web', 30);
