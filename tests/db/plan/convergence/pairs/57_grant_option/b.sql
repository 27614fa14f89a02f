-- Desired file B (idempotent, like the master file).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p57_app') THEN CREATE ROLE p57_app NOLOGIN; END IF;
END $$;
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, title text);
GRANT SELECT ON public.episodes TO p57_app WITH GRANT OPTION;
GRANT UPDATE ON public.episodes TO p57_app;
REVOKE GRANT OPTION FOR UPDATE ON public.episodes FROM p57_app;
GRANT SELECT (title) ON public.episodes TO p57_app;
REVOKE GRANT OPTION FOR SELECT (title) ON public.episodes FROM p57_app;
