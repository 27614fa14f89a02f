-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.tags (name text, note text);
