-- State A (the live database): an aggregate starts from another initial condition than the file's
CREATE FUNCTION public.longest_step(state integer, value integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS 'SELECT greatest(state, value)';
CREATE AGGREGATE public.longest(integer) (SFUNC = public.longest_step, STYPE = integer, INITCOND = '-1');
CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
