-- Desired file B (idempotent, like the master file).
CREATE OR REPLACE FUNCTION public.longest_step(state integer, value integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS 'SELECT greatest(state, value)';
CREATE OR REPLACE AGGREGATE public.longest(integer) (SFUNC = public.longest_step, STYPE = integer, INITCOND = '0');
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
