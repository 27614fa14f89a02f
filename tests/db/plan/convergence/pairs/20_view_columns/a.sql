-- State A (the live database): a view loses a column (CREATE OR REPLACE VIEW cannot do that); its grant must survive
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p20_app') THEN CREATE ROLE p20_app NOLOGIN; END IF;
END $$;

CREATE TABLE public.users (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL);
INSERT INTO public.users VALUES (1, 'Ada', 'ada@example.com');
CREATE VIEW public.user_directory AS SELECT id, name, email FROM public.users;
GRANT SELECT ON public.user_directory TO p20_app;
