-- Desired file B (idempotent, like the master file): the parent's index ON ONLY, each partition's built and attached.
CREATE TABLE IF NOT EXISTS public.plays (day date NOT NULL, episode_id integer NOT NULL, seconds integer) PARTITION BY RANGE (day);
CREATE TABLE IF NOT EXISTS public.plays_2025 PARTITION OF public.plays FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE IF NOT EXISTS public.plays_2026 PARTITION OF public.plays FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX IF NOT EXISTS plays_episode_idx ON ONLY public.plays (episode_id);
CREATE INDEX IF NOT EXISTS plays_2025_episode_idx ON public.plays_2025 (episode_id);
CREATE INDEX IF NOT EXISTS plays_2026_episode_idx ON public.plays_2026 (episode_id);
ALTER INDEX public.plays_episode_idx ATTACH PARTITION public.plays_2025_episode_idx;
ALTER INDEX public.plays_episode_idx ATTACH PARTITION public.plays_2026_episode_idx;
