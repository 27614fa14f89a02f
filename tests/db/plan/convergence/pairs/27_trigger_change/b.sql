-- Desired file B (idempotent, like the master file).
CREATE OR REPLACE FUNCTION public.touch_updated_at() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;

CREATE TABLE IF NOT EXISTS public.docs (id integer PRIMARY KEY, body text, updated_at timestamptz);
CREATE OR REPLACE TRIGGER docs_touch BEFORE INSERT OR UPDATE ON public.docs
    FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at();
