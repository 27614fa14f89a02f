-- TSL mode: metrics_daily as a continuous aggregate and its refresh policy. Depending on the
-- TimescaleDB version, jobs name either the materialization hypertable or the view itself.
SELECT ca.view_name::text,
       ca.materialized_only,
       (SELECT count(*) FROM timescaledb_information.jobs j
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate'
          AND ((j.hypertable_schema, j.hypertable_name)
               = (ca.materialization_hypertable_schema, ca.materialization_hypertable_name)
               OR (j.hypertable_schema, j.hypertable_name) = (ca.view_schema, ca.view_name))) AS refresh_jobs
FROM timescaledb_information.continuous_aggregates ca
WHERE ca.view_schema = %(schema)s AND ca.view_name = 'metrics_daily'
