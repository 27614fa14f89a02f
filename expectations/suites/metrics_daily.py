"""Suite 4: metrics_daily agrees with the raw events it is built from, and keeps up with them.

Checked against metrics_daily's refresh window (db/deploy/metrics.py: the refresh re-aggregates the
UTC days from now() - window on, every 15 minutes, and leaves older buckets as they are): closed days
inside that window, older than the refresh lag (and before the aggregate's newest, possibly partial,
bucket) must equal the raw totals exactly; the newest bucket must cover the newest raw event in the
window as of one lag ago. Older days are not compared: a late event there is outside every refresh.
Days past the aggregate's newest bucket are the freshness check's business, not the totals check's.

The totals comparison is its own batch, listing only the buckets that disagree: GX materialises it
once (one aggregation of the raw window) and one row-count expectation says how many disagree.
"""

from __future__ import annotations

from db.schema.expected import METRICS_DAILY, METRICS_DAILY_KEY, SCHEMA, ExpectedSchema
from expectations.spec import Batch, RunOptions, SuiteSpec, gx_check, no_rows_check, unexpected_rows

NAME = "metrics_daily"
COUNT_COLUMNS = ("events", "plays", "completes", "listened_seconds")
WINDOW_START = "date_trunc('day', now() - interval '{days} days', 'UTC')"
# = db/deploy/metrics.py DEFAULT_WINDOW (not imported: that pulls in the deploy code; a test pins it)
REFRESH_WINDOW = "3 days"
REFRESH_START = f"date_trunc('day', now() - interval '{REFRESH_WINDOW}', 'UTC')"
METRICS_QUERY = "SELECT m.* FROM {schema}.{view} AS m WHERE {window}"
TOTALS_ASSET = "metrics_daily_vs_raw_events"
# Compared days end before both the lag cut-off and the aggregate's newest bucket.
CUTOFF = (
    "least(date_trunc('day', now() - interval '{lag}', 'UTC'), "
    "(SELECT max(md.day) FROM {schema}.{view} AS md))"
)
TOTALS_QUERY = """
SELECT coalesce(a.day, r.day) AS day, coalesce(a.episode_id, r.episode_id) AS episode_id,
       a.events AS aggregate_events, r.events AS raw_events,
       a.listened_seconds AS aggregate_seconds, r.listened_seconds AS raw_seconds
FROM (SELECT m.* FROM {schema}.{view} AS m WHERE {window} AND m.day < {cutoff}) AS a
FULL JOIN (
    SELECT date_trunc('day', e.event_time, 'UTC') AS day, e.tenant_id, e.podcast_id, e.episode_id,
           count(*) AS events,
           count(*) FILTER (WHERE e.event_type = 'play') AS plays,
           count(*) FILTER (WHERE e.event_type = 'complete') AS completes,
           sum(e.duration_seconds)::bigint AS listened_seconds
    FROM {schema}.listener_events AS e
    WHERE {raw_window} AND e.event_time < {cutoff}
    GROUP BY 1, 2, 3, 4
) AS r
  ON a.day = r.day AND a.tenant_id = r.tenant_id
 AND a.podcast_id = r.podcast_id AND a.episode_id = r.episode_id
WHERE (a.events, a.plays, a.completes, a.listened_seconds)
      IS DISTINCT FROM (r.events, r.plays, r.completes, r.listened_seconds)
"""
FRESHNESS_QUERY = """
SELECT r.newest_event, a.newest_bucket
FROM (SELECT max(e.event_time) AS newest_event FROM {schema}.listener_events AS e
      WHERE {raw_window} AND e.event_time <= now()) AS r
CROSS JOIN (SELECT max(m.day) AS newest_bucket FROM {{batch}} AS m) AS a
WHERE r.newest_event IS NOT NULL
  AND (a.newest_bucket IS NULL
       OR a.newest_bucket < date_trunc('day', r.newest_event - interval '{lag}', 'UTC'))
"""
# How the unexpected row reads in a failure message.
FRESHNESS_TEXT = "newest bucket {newest_bucket}, newest raw event {newest_event}"


def build(expected: ExpectedSchema, options: RunOptions) -> SuiteSpec:
    """Unique key, non-negative counts, totals equal to the raw events, and a fresh newest bucket."""
    if options.full:
        window, raw_window = "TRUE", "TRUE"
    else:
        start = WINDOW_START.format(days=int(options.window_days))
        window, raw_window = f"m.day >= {start}", f"e.event_time >= {start}"
    names = {"schema": SCHEMA, "view": METRICS_DAILY, "lag": options.refresh_lag}
    cutoff = CUTOFF.format(**names)
    # Totals and freshness look at the refresh window only (inside the validation window, if shorter).
    recent, raw_recent = (
        (f"{window} AND m.day >= {REFRESH_START}", f"{raw_window} AND e.event_time >= {REFRESH_START}")
        if not options.full
        else (window, raw_window)
    )
    batch = Batch(METRICS_DAILY, METRICS_QUERY.format(window=window, **names))
    batch.checks.append(
        gx_check(
            f"{METRICS_DAILY} key unique",
            "ExpectCompoundColumnsToBeUnique",
            column_list=list(METRICS_DAILY_KEY),
        )
    )
    batch.checks += [
        gx_check(
            f"{METRICS_DAILY}.{column} non-negative",
            "ExpectColumnValuesToBeBetween",
            column=column,
            min_value=0,
        )
        for column in COUNT_COLUMNS
    ]
    batch.checks.append(
        unexpected_rows(
            f"{METRICS_DAILY} fresh",
            FRESHNESS_QUERY.format(raw_window=raw_recent, **names),
            f"the newest bucket covers the newest raw event of the refresh window ({REFRESH_WINDOW}) "
            f"as of {options.refresh_lag} ago",
            FRESHNESS_TEXT,
        )
    )
    totals = Batch(
        TOTALS_ASSET, TOTALS_QUERY.format(cutoff=cutoff, window=recent, raw_window=raw_recent, **names)
    )
    totals.checks.append(
        no_rows_check(
            f"{METRICS_DAILY} totals equal raw events",
            f"each closed day in the refresh window ({REFRESH_WINDOW}, older than {options.refresh_lag}) "
            "equals the raw totals",
        )
    )
    return SuiteSpec(NAME, [batch, totals])
