-- TSL mode: metrics_daily as a continuous aggregate and its refresh policy.
SELECT ca.view_name::text,
       ca.materialized_only,
       (SELECT count(*) FROM timescaledb_information.jobs j
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate'
          AND j.hypertable_schema = ca.materialization_hypertable_schema
          AND j.hypertable_name = ca.materialization_hypertable_name) AS refresh_jobs
FROM timescaledb_information.continuous_aggregates ca
WHERE ca.view_schema = %(schema)s AND ca.view_name = 'metrics_daily'
