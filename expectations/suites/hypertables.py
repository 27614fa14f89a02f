"""Suite 2: hypertables, their time columns and chunk intervals, and (TSL) the refresh policy's job."""

from __future__ import annotations

from db.schema.expected import METRICS_DAILY, SCHEMA, ExpectedSchema
from expectations.spec import Batch, RunOptions, SuiteSpec, unexpected_rows

NAME = "hypertables"
DIMENSIONS_ASSET = "timescaledb_dimensions"
DIMENSIONS_QUERY = f"""
SELECT d.hypertable_name::text AS hypertable_name, d.column_name::text AS column_name,
       d.time_interval AS time_interval, d.dimension_number AS dimension_number
FROM timescaledb_information.dimensions d
WHERE d.hypertable_schema = '{SCHEMA}'
"""
# The expected table is absent from the dimensions, or partitioned on another column / interval.
# `problem` is what a failure message says (an integer dimension has no time interval).
HYPERTABLE_QUERY = """
SELECT e.table_name, d.column_name, d.time_interval,
       CASE WHEN d.hypertable_name IS NULL THEN 'not a hypertable'
            ELSE 'partitioned on ' || d.column_name || ' every '
                 || coalesce(d.time_interval::text, 'integer interval')
                 || ', not on ' || e.column_name || ' every ' || e.chunk_interval::text
       END AS problem
FROM (VALUES ('{table}', '{column}', interval '{interval}')) AS e(table_name, column_name, chunk_interval)
LEFT JOIN {{batch}} AS d ON d.hypertable_name = e.table_name AND d.dimension_number = 1
WHERE d.hypertable_name IS NULL OR d.column_name <> e.column_name OR d.time_interval <> e.chunk_interval
"""
JOBS_ASSET = "timescaledb_jobs"
# Jobs name the materialization hypertable (older TimescaleDB) or the view itself (2.2x).
JOBS_QUERY = f"""
SELECT ca.view_name::text AS view_name, j.job_id AS job_id, j.proc_name::text AS proc_name,
       j.scheduled AS scheduled
FROM timescaledb_information.continuous_aggregates ca
LEFT JOIN timescaledb_information.jobs j
       ON (j.hypertable_schema, j.hypertable_name)
          IN ((ca.materialization_hypertable_schema, ca.materialization_hypertable_name),
              (ca.view_schema, ca.view_name))
WHERE ca.view_schema = '{SCHEMA}'
"""
# No scheduled refresh policy on metrics_daily (the batch lists one row per cagg job).
REFRESH_POLICY_QUERY = f"""
SELECT e.view_name
FROM (VALUES ('{METRICS_DAILY}')) AS e(view_name)
LEFT JOIN {{batch}} AS j
       ON j.view_name = e.view_name AND j.proc_name = 'policy_refresh_continuous_aggregate' AND j.scheduled
WHERE j.view_name IS NULL
"""
# How one unexpected row reads in a failure message.
HYPERTABLE_TEXT = "{table_name} ({problem})"
REFRESH_POLICY_TEXT = "{view_name} (no scheduled refresh policy)"


def build(expected: ExpectedSchema, options: RunOptions) -> SuiteSpec:
    """Per expected hypertable: partitioned as declared; in TSL mode also metrics_daily's refresh job."""
    if options.mode == "plain":
        return SuiteSpec(
            NAME, not_applicable="TimescaleDB is not loaded (plain mode): there are no hypertables"
        )
    dimensions = Batch(DIMENSIONS_ASSET, DIMENSIONS_QUERY)
    for h in expected.hypertables.values():
        query = HYPERTABLE_QUERY.format(table=h.table, column=h.time_column, interval=h.chunk_interval)
        dimensions.checks.append(
            unexpected_rows(
                f"{h.table} hypertable",
                query,
                f"{h.table} is a hypertable on {h.time_column} with {h.chunk_interval} chunks",
                HYPERTABLE_TEXT,
            )
        )
    batches = [dimensions]
    if options.mode == "tsl":
        jobs = Batch(JOBS_ASSET, JOBS_QUERY)
        jobs.checks.append(
            unexpected_rows(
                f"{METRICS_DAILY} refresh policy",
                REFRESH_POLICY_QUERY,
                f"{METRICS_DAILY} is a continuous aggregate with a scheduled refresh policy",
                REFRESH_POLICY_TEXT,
            )
        )
        batches.append(jobs)
    return SuiteSpec(NAME, batches)
