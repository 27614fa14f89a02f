-- Newest raw event inside the refresh window against metrics_daily's newest bucket. Both ends are
-- bounded by time, so chunk exclusion keeps this cheap on a large hypertable.
SELECT (SELECT max(event_time) FROM public.listener_events
        WHERE event_time > now() - %(lookback)s::interval AND event_time <= now()) AS newest_event,
       (SELECT max(day) FROM public.metrics_daily
        WHERE day > now() - %(lookback)s::interval - interval '1 day') AS newest_bucket
