-- State A (the live database): a trigger fires on UPDATE only in the database, on INSERT OR UPDATE in the file
CREATE OR REPLACE FUNCTION public.touch_updated_at() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;

CREATE TABLE public.docs (id integer PRIMARY KEY, body text, updated_at timestamptz);
INSERT INTO public.docs VALUES (1, 'a', '2026-01-01 00:00+00');
CREATE TRIGGER docs_touch BEFORE UPDATE ON public.docs FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at();
