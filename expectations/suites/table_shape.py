"""Suite 1: every core table exists with exactly the column set the master file declares.

Two expectations over one small catalog batch: which expected tables are missing, and which columns
of the existing tables are missing or undeclared. The unexpected rows name each problem, so one
failed expectation says exactly what to fix (GX's per-expectation overhead makes 27 separate
per-table expectations cost seconds).
"""

from __future__ import annotations

from db.schema.expected import METRICS_DAILY, METRICS_DAILY_COLUMNS, SCHEMA, ExpectedSchema
from expectations.spec import Batch, RunOptions, SuiteSpec, sql_values, unexpected_rows

NAME = "table_shape"
ASSET = "catalog_columns"
# Every column of every relation in the schema: small, read once per check.
COLUMNS_QUERY = f"""
SELECT c.relname::text AS table_name, a.attname::text AS column_name
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = to_regnamespace('{SCHEMA}') AND c.relkind IN ('r', 'p', 'v', 'm')
"""
MISSING_TABLES_QUERY = """
SELECT e.table_name
FROM (VALUES {tables}) AS e(table_name)
LEFT JOIN (SELECT DISTINCT b.table_name FROM {{batch}} AS b) AS a ON a.table_name = e.table_name
WHERE a.table_name IS NULL
"""
# Only tables that exist: a missing table is the other expectation's finding, not this one's.
COLUMN_SET_QUERY = """
SELECT coalesce(e.table_name, a.table_name) AS table_name,
       coalesce(e.column_name, a.column_name) AS column_name,
       CASE WHEN a.column_name IS NULL THEN 'missing' ELSE 'not in the master file' END AS problem
FROM (VALUES {columns}) AS e(table_name, column_name)
FULL JOIN (SELECT b.table_name, b.column_name FROM {{batch}} AS b
           WHERE b.table_name IN ({table_list})) AS a
       ON a.table_name = e.table_name AND a.column_name = e.column_name
WHERE (e.column_name IS NULL OR a.column_name IS NULL)
  AND coalesce(e.table_name, a.table_name) IN (SELECT DISTINCT b2.table_name FROM {{batch}} AS b2)
"""
# How one unexpected row reads in a failure message.
MISSING_TABLE_TEXT = "{table_name} (missing)"
COLUMN_SET_TEXT = "{table_name}.{column_name} ({problem})"


def build(expected: ExpectedSchema, options: RunOptions) -> SuiteSpec:
    """Core tables present; their columns exactly the declared sets."""
    tables = {name: table.column_names for name, table in expected.tables.items()}
    tables[METRICS_DAILY] = METRICS_DAILY_COLUMNS
    names = sql_values([(t,) for t in tables])
    table_list = ", ".join(f"'{t}'" for t in tables)
    columns = sql_values([(t, c) for t, cols in tables.items() for c in cols])
    batch = Batch(ASSET, COLUMNS_QUERY)
    batch.checks.append(
        unexpected_rows(
            "core tables exist",
            MISSING_TABLES_QUERY.format(tables=names),
            f"all {len(tables)} core tables and metrics_daily exist",
            MISSING_TABLE_TEXT,
        )
    )
    batch.checks.append(
        unexpected_rows(
            "columns match the master file",
            COLUMN_SET_QUERY.format(columns=columns, table_list=table_list),
            "every core table has exactly the columns the master file declares",
            COLUMN_SET_TEXT,
        )
    )
    return SuiteSpec(NAME, [batch])
