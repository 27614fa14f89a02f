-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.podcasts (id integer PRIMARY KEY, title text NOT NULL);

CREATE SEQUENCE IF NOT EXISTS public.ticket_numbers START 100;
CREATE TABLE IF NOT EXISTS public.tickets (
    id bigint PRIMARY KEY DEFAULT nextval('public.ticket_numbers'),
    podcast_id integer REFERENCES public.podcasts (id)
);
