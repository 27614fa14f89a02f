-- State A (the live database): PUBLIC may still use a type the file reserves to a role, and a domain lacks its default
CREATE ROLE p72_app NOLOGIN;
CREATE TYPE public.tier AS ENUM ('free', 'pro');
CREATE DOMAIN public.cents AS bigint CHECK (VALUE >= 0);
CREATE TABLE public.prices (id integer PRIMARY KEY, tier public.tier, amount public.cents);
INSERT INTO public.prices VALUES (1, 'free', 0);
