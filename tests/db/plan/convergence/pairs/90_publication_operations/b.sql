-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, title text);
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'p90_feed') THEN
        CREATE PUBLICATION p90_feed FOR TABLE public.episodes WITH (publish = 'insert, update');
    END IF;
END $$;
ALTER PUBLICATION p90_feed SET (publish = 'insert, update');
