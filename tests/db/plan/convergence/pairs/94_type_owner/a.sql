-- State A (the live database): an enum type belongs to another role than whoever runs the file
CREATE ROLE p94_other NOLOGIN;
CREATE TYPE public.tier AS ENUM ('free', 'pro');
ALTER TYPE public.tier OWNER TO p94_other;
CREATE TABLE public.plans (id integer PRIMARY KEY, tier public.tier);
INSERT INTO public.plans VALUES (1, 'free');
