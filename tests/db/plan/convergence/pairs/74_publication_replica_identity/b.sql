-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, title text);
CREATE TABLE IF NOT EXISTS public.api_keys (id integer PRIMARY KEY, secret text NOT NULL);
ALTER TABLE public.episodes REPLICA IDENTITY FULL;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'p74_catalog') THEN
        CREATE PUBLICATION p74_catalog FOR TABLE public.episodes WITH (publish = 'insert, update');
    END IF;
END $$;
