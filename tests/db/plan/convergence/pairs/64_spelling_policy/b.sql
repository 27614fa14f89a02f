-- Desired file B (idempotent, like the master file): the same policy, spelled with IN.
CREATE TABLE IF NOT EXISTS public.episodes (id integer PRIMARY KEY, status varchar(20) NOT NULL);
ALTER TABLE public.episodes ENABLE ROW LEVEL SECURITY;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'episodes' AND policyname = 'episodes_visible') THEN
        CREATE POLICY episodes_visible ON public.episodes FOR SELECT USING (status IN ('draft', 'live'));
    END IF;
END $$;
