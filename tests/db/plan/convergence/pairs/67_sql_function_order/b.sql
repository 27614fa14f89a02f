-- Desired file B (idempotent, like the master file). pg_depend does not record what a body calls.
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY);
CREATE OR REPLACE FUNCTION public.b_callee() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 41';
CREATE OR REPLACE FUNCTION public.a_caller() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT public.b_callee() + 1';
