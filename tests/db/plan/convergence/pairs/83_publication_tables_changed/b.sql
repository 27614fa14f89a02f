-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, title text);
CREATE TABLE IF NOT EXISTS public.api_keys (id integer PRIMARY KEY, secret text NOT NULL);
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'p83_feed') THEN
        CREATE PUBLICATION p83_feed FOR TABLE public.episodes;
    END IF;
END $$;
