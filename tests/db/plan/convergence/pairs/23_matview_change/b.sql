-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.plays (id integer PRIMARY KEY, at timestamptz NOT NULL, seconds integer NOT NULL);
CREATE MATERIALIZED VIEW IF NOT EXISTS public.plays_daily AS
    SELECT date_trunc('day', at) AS day, count(*) AS plays, sum(seconds) AS seconds
    FROM public.plays GROUP BY 1;
CREATE UNIQUE INDEX IF NOT EXISTS plays_daily_day ON public.plays_daily (day);
