"""Suite 3: data-shape invariants on listener_events and attribution_events over the recent window.

The rules come from the schema: NOT NULL columns and `IN (...)` value sets are read from the master
file; the cross-table rules are the ones CHECK constraints cannot express (an event's tenant is its
episode's tenant, attribution falls within its campaign's dates, nothing is in the future).

Each table is one offenders batch (see expectations/spec.py): a single scan of the window that joins
episodes (or campaigns) once, finds duplicated event ids with one GROUP BY, and carries a flag
column per cross-table rule. Each check is still its own expectation with its own count.
"""

from __future__ import annotations

from db.schema.expected import SCHEMA, ExpectedSchema
from expectations.spec import (
    Batch,
    Check,
    RunOptions,
    SuiteSpec,
    flag_check,
    gx_check,
    offenders_query,
)

NAME = "event_invariants"
LISTENER_EVENTS = "listener_events"
ATTRIBUTION_EVENTS = "attribution_events"
# Clock skew tolerated between the producers' clocks and the database's.
FUTURE_SKEW = "5 minutes"
FUTURE = f"e.event_time > now() + interval '{FUTURE_SKEW}'"
# Event ids seen more than once in the window: one GROUP BY, joined back to the scan.
DUPLICATES_JOIN = (
    "LEFT JOIN (SELECT d.event_id FROM {schema}.{table} AS d WHERE {window}"
    " GROUP BY d.event_id HAVING count(*) > 1) AS dup ON dup.event_id = e.event_id"
)
LISTENER_SOURCE = (
    f"{SCHEMA}.{LISTENER_EVENTS} AS e\nLEFT JOIN {SCHEMA}.episodes AS ep ON ep.id = e.episode_id\n"
)
ATTRIBUTION_SOURCE = (
    f"{SCHEMA}.{ATTRIBUTION_EVENTS} AS e\nLEFT JOIN {SCHEMA}.campaigns AS c ON c.id = e.campaign_id\n"
)


def build(expected: ExpectedSchema, options: RunOptions) -> SuiteSpec:
    """Two offenders batches (the window of each event table) with their column and cross-table checks."""
    listener = _column_checks(
        LISTENER_EVENTS, expected, non_negative=("position_seconds", "duration_seconds")
    )
    listener += [
        flag_check(
            f"{LISTENER_EVENTS} not in the future",
            "in_the_future",
            FUTURE,
            f"no listener event is more than {FUTURE_SKEW} in the future",
        ),
        flag_check(
            f"{LISTENER_EVENTS} tenant is the episode's",
            "tenant_is_not_episodes",
            "ep.tenant_id <> e.tenant_id",
            "each listener event's tenant is its episode's tenant",
        ),
        flag_check(
            f"{LISTENER_EVENTS} podcast is the episode's",
            "podcast_is_not_episodes",
            "ep.podcast_id <> e.podcast_id",
            "each listener event's podcast is its episode's podcast",
        ),
        flag_check(
            f"{LISTENER_EVENTS} within episode length",
            "beyond_episode_length",
            "e.position_seconds > ep.duration_seconds OR e.duration_seconds > ep.duration_seconds",
            "positions and listened seconds do not exceed the episode's length",
        ),
    ]
    attribution = _column_checks(ATTRIBUTION_EVENTS, expected, non_negative=("revenue_cents",))
    attribution += [
        flag_check(
            f"{ATTRIBUTION_EVENTS} not in the future",
            "in_the_future",
            FUTURE,
            f"no attribution event is more than {FUTURE_SKEW} in the future",
        ),
        flag_check(
            f"{ATTRIBUTION_EVENTS} campaign exists",
            "campaign_is_missing",
            "c.id IS NULL",
            "each attribution event references an existing campaign",
        ),
        flag_check(
            f"{ATTRIBUTION_EVENTS} tenant is the campaign's",
            "tenant_is_not_campaigns",
            "c.tenant_id <> e.tenant_id",
            "each attribution event's tenant is its campaign's tenant",
        ),
        flag_check(
            f"{ATTRIBUTION_EVENTS} within campaign dates",
            "outside_campaign_dates",
            "(e.event_time AT TIME ZONE 'UTC')::date NOT BETWEEN c.starts_on AND c.ends_on",
            "each attribution event falls within its campaign's dates (UTC)",
        ),
    ]
    return SuiteSpec(
        NAME,
        [
            _batch(LISTENER_EVENTS, LISTENER_SOURCE, listener, expected, options),
            _batch(ATTRIBUTION_EVENTS, ATTRIBUTION_SOURCE, attribution, expected, options),
        ],
    )


def _batch(
    table: str, source: str, checks: list[Check], expected: ExpectedSchema, options: RunOptions
) -> Batch:
    duplicates = DUPLICATES_JOIN.format(
        schema=SCHEMA, table=table, window=options.window_filter("d.event_time")
    )
    columns = [f"e.{c}" for c in _checked_columns(table, expected)]
    query = offenders_query(columns, source + duplicates, options.window_filter("e.event_time"), checks)
    return Batch(table, query, checks)


def _checked_columns(table: str, expected: ExpectedSchema) -> list[str]:
    """The event id first, then every column a column check reads (NOT NULL ones include the rest)."""
    return [c.name for c in expected.tables[table].columns if c.not_null or c.name == "event_type"]


def _column_checks(table: str, expected: ExpectedSchema, non_negative: tuple[str, ...]) -> list[Check]:
    """NOT NULL columns and value sets from the master file; unique event ids; non-negative amounts."""
    checks = [
        gx_check(
            f"{table}.{c.name} not null",
            "ExpectColumnValuesToNotBeNull",
            offends=f"e.{c.name} IS NULL",
            column=c.name,
        )
        for c in expected.tables[table].columns
        if c.not_null
    ]
    checks += [
        gx_check(
            f"{table}.{column} in known set",
            "ExpectColumnValuesToBeInSet",
            offends=f"e.{column} NOT IN ({', '.join(_literal(v) for v in values)})",
            column=column,
            value_set=list(values),
        )
        for (owner, column), values in expected.value_sets.items()
        if owner == table and column == "event_type"
    ]
    checks += [
        gx_check(
            f"{table}.{column} non-negative",
            "ExpectColumnValuesToBeBetween",
            offends=f"e.{column} < 0",
            column=column,
            min_value=0,
        )
        for column in non_negative
    ]
    checks.append(
        gx_check(
            f"{table}.event_id unique",
            "ExpectColumnValuesToBeUnique",
            offends="dup.event_id IS NOT NULL",
            column="event_id",
        )
    )
    return checks


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
