-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.podcasts (tenant_id integer, id integer, title text, PRIMARY KEY (tenant_id, id));
CREATE TABLE IF NOT EXISTS public.episodes (
    tenant_id integer NOT NULL,
    id integer PRIMARY KEY,
    podcast_id integer NOT NULL,
    CONSTRAINT episodes_podcast_fk FOREIGN KEY (tenant_id, podcast_id) REFERENCES public.podcasts (tenant_id, id)
);
