"""Suite 3: data-shape invariants on listener_events and attribution_events over the recent window.

The rules come from the schema: NOT NULL columns and `IN (...)` value sets are read from the master
file; the cross-table rules are the ones CHECK constraints cannot express (an event's tenant is its
episode's tenant, attribution falls within its campaign's dates, nothing is in the future).
"""

from __future__ import annotations

from db.schema.expected import SCHEMA, ExpectedSchema
from expectations.spec import Batch, Check, RunOptions, SuiteSpec, gx_check, unexpected_rows

NAME = "event_invariants"
LISTENER_EVENTS = "listener_events"
ATTRIBUTION_EVENTS = "attribution_events"
# Clock skew tolerated between the producers' clocks and the database's.
FUTURE_SKEW = "5 minutes"

EVENTS_QUERY = "SELECT * FROM {schema}.{table} WHERE {window}"
# Without a JOIN, GX aliases {batch} itself (as "subselect"): no alias of ours here.
FUTURE_QUERY = (
    f"SELECT event_id, event_time FROM {{batch}} WHERE event_time > now() + interval '{FUTURE_SKEW}'"
)
EPISODE_TENANT_QUERY = f"""
SELECT e.event_id, e.tenant_id, ep.tenant_id AS episode_tenant_id
FROM {{batch}} AS e JOIN {SCHEMA}.episodes AS ep ON ep.id = e.episode_id
WHERE ep.tenant_id <> e.tenant_id
"""
EPISODE_PODCAST_QUERY = f"""
SELECT e.event_id, e.podcast_id, ep.podcast_id AS episode_podcast_id
FROM {{batch}} AS e JOIN {SCHEMA}.episodes AS ep ON ep.id = e.episode_id
WHERE ep.podcast_id <> e.podcast_id
"""
WITHIN_EPISODE_QUERY = f"""
SELECT e.event_id, e.position_seconds, e.duration_seconds, ep.duration_seconds AS episode_seconds
FROM {{batch}} AS e JOIN {SCHEMA}.episodes AS ep ON ep.id = e.episode_id
WHERE e.position_seconds > ep.duration_seconds OR e.duration_seconds > ep.duration_seconds
"""
CAMPAIGN_EXISTS_QUERY = f"""
SELECT e.event_id, e.campaign_id
FROM {{batch}} AS e LEFT JOIN {SCHEMA}.campaigns AS c ON c.id = e.campaign_id
WHERE c.id IS NULL
"""
CAMPAIGN_TENANT_QUERY = f"""
SELECT e.event_id, e.tenant_id, c.tenant_id AS campaign_tenant_id
FROM {{batch}} AS e JOIN {SCHEMA}.campaigns AS c ON c.id = e.campaign_id
WHERE c.tenant_id <> e.tenant_id
"""
CAMPAIGN_DATES_QUERY = f"""
SELECT e.event_id, e.event_time, c.starts_on, c.ends_on
FROM {{batch}} AS e JOIN {SCHEMA}.campaigns AS c ON c.id = e.campaign_id
WHERE (e.event_time AT TIME ZONE 'UTC')::date NOT BETWEEN c.starts_on AND c.ends_on
"""


def build(expected: ExpectedSchema, options: RunOptions) -> SuiteSpec:
    """Two batches (the window of each event table) with their column and cross-table checks."""
    listener = Batch(LISTENER_EVENTS, _events_query(LISTENER_EVENTS, options))
    listener.checks += _column_checks(
        LISTENER_EVENTS, expected, non_negative=("position_seconds", "duration_seconds")
    )
    listener.checks += [
        unexpected_rows(
            f"{LISTENER_EVENTS} not in the future",
            FUTURE_QUERY,
            f"no listener event is more than {FUTURE_SKEW} in the future",
        ),
        unexpected_rows(
            f"{LISTENER_EVENTS} tenant is the episode's",
            EPISODE_TENANT_QUERY,
            "each listener event's tenant is its episode's tenant",
        ),
        unexpected_rows(
            f"{LISTENER_EVENTS} podcast is the episode's",
            EPISODE_PODCAST_QUERY,
            "each listener event's podcast is its episode's podcast",
        ),
        unexpected_rows(
            f"{LISTENER_EVENTS} within episode length",
            WITHIN_EPISODE_QUERY,
            "positions and listened seconds do not exceed the episode's length",
        ),
    ]
    attribution = Batch(ATTRIBUTION_EVENTS, _events_query(ATTRIBUTION_EVENTS, options))
    attribution.checks += _column_checks(ATTRIBUTION_EVENTS, expected, non_negative=("revenue_cents",))
    attribution.checks += [
        unexpected_rows(
            f"{ATTRIBUTION_EVENTS} not in the future",
            FUTURE_QUERY,
            f"no attribution event is more than {FUTURE_SKEW} in the future",
        ),
        unexpected_rows(
            f"{ATTRIBUTION_EVENTS} campaign exists",
            CAMPAIGN_EXISTS_QUERY,
            "each attribution event references an existing campaign",
        ),
        unexpected_rows(
            f"{ATTRIBUTION_EVENTS} tenant is the campaign's",
            CAMPAIGN_TENANT_QUERY,
            "each attribution event's tenant is its campaign's tenant",
        ),
        unexpected_rows(
            f"{ATTRIBUTION_EVENTS} within campaign dates",
            CAMPAIGN_DATES_QUERY,
            "each attribution event falls within its campaign's dates (UTC)",
        ),
    ]
    return SuiteSpec(NAME, [listener, attribution])


def _events_query(table: str, options: RunOptions) -> str:
    return EVENTS_QUERY.format(schema=SCHEMA, table=table, window=options.window_filter("event_time"))


def _column_checks(table: str, expected: ExpectedSchema, non_negative: tuple[str, ...]) -> list[Check]:
    """NOT NULL columns and value sets from the master file; unique event ids; non-negative amounts."""
    checks = [
        gx_check(f"{table}.{c.name} not null", "ExpectColumnValuesToNotBeNull", column=c.name)
        for c in expected.tables[table].columns
        if c.not_null
    ]
    checks += [
        gx_check(
            f"{table}.{column} in known set",
            "ExpectColumnValuesToBeInSet",
            column=column,
            value_set=list(values),
        )
        for (owner, column), values in expected.value_sets.items()
        if owner == table and column == "event_type"
    ]
    checks += [
        gx_check(
            f"{table}.{column} non-negative", "ExpectColumnValuesToBeBetween", column=column, min_value=0
        )
        for column in non_negative
    ]
    checks.append(gx_check(f"{table}.event_id unique", "ExpectColumnValuesToBeUnique", column="event_id"))
    return checks
