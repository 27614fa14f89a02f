-- Expected hypertables against timescaledb_information: time column and chunk interval.
SELECT e.table_name,
       e.time_column,
       e.chunk_interval,
       d.column_name::text AS actual_column,
       d.time_interval::text AS actual_interval,
       coalesce(d.time_interval = e.chunk_interval::interval, false) AS interval_matches
FROM unnest(%(tables)s::text[], %(columns)s::text[], %(intervals)s::text[])
     WITH ORDINALITY AS e(table_name, time_column, chunk_interval, ord)
LEFT JOIN timescaledb_information.dimensions d
       ON d.hypertable_schema = %(schema)s AND d.hypertable_name = e.table_name AND d.dimension_number = 1
-- In the master file's order: a report must read the same every run.
ORDER BY e.ord
