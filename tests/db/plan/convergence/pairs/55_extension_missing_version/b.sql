-- Desired file B (idempotent, like the master file).
CREATE EXTENSION IF NOT EXISTS citext WITH VERSION '1.5';
CREATE TABLE IF NOT EXISTS public.users (id integer PRIMARY KEY, email text NOT NULL);
