-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, tenant_id integer NOT NULL, title text);
CREATE OR REPLACE VIEW public.tenant_episodes WITH (security_barrier = true) AS
    SELECT id, title FROM public.episodes
    WHERE tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::integer;
