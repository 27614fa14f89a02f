-- State A (the live database): ALTER DEFAULT PRIVILEGES grants everything on future tables to another role
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p35_app') THEN CREATE ROLE p35_app NOLOGIN; END IF;
END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'p35_intruder') THEN CREATE ROLE p35_intruder NOLOGIN; END IF;
END $$;

CREATE TABLE public.episodes (id integer PRIMARY KEY);
INSERT INTO public.episodes VALUES (1);
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO p35_intruder;
