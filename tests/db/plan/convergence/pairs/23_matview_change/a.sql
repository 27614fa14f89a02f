-- State A (the live database): a materialized view gains a column; its unique index comes back with it
CREATE TABLE public.plays (id integer PRIMARY KEY, at timestamptz NOT NULL, seconds integer NOT NULL);
INSERT INTO public.plays VALUES (1, '2026-01-01 10:00+00', 30), (2, '2026-01-02 10:00+00', 60);
CREATE MATERIALIZED VIEW public.plays_daily AS
    SELECT date_trunc('day', at) AS day, count(*) AS plays FROM public.plays GROUP BY 1;
CREATE UNIQUE INDEX plays_daily_day ON public.plays_daily (day);
