-- Newest raw event inside the refresh window against metrics_daily's newest bucket. Both ends are
-- bounded by time, so chunk exclusion keeps this cheap on a large hypertable. The window is written
-- into the statement ({lookback}, a literal), not passed as a parameter: TimescaleDB excludes chunks
-- while planning only for now() minus a constant, and with a parameter the plan opened every chunk
-- (4 s and a lock per chunk and index at 3,000 chunks; past the lock table, "out of shared memory").
SELECT (SELECT max(event_time) FROM public.listener_events
        WHERE event_time > now() - {lookback}::interval AND event_time <= now()) AS newest_event,
       (SELECT max(day) FROM public.metrics_daily
        WHERE day > now() - {lookback}::interval - interval '1 day') AS newest_bucket
