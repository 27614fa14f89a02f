-- State A (the live database): a tenant view lost security_barrier in the database
CREATE TABLE public.episodes (id integer PRIMARY KEY, tenant_id integer NOT NULL, title text);
INSERT INTO public.episodes VALUES (1, 1, 'a'), (2, 2, 'b');
CREATE VIEW public.tenant_episodes AS
    SELECT id, title FROM public.episodes
    WHERE tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::integer;
