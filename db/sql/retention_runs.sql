-- One row per table per real enforce-retention run (db/deploy/retention.py); health reads the newest.
-- Idempotent: each run executes it before recording itself.
CREATE SCHEMA IF NOT EXISTS schemaflow;

CREATE TABLE IF NOT EXISTS schemaflow.retention_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment    text        NOT NULL,
    table_name     text        NOT NULL,
    keep_for       interval    NOT NULL,
    cutoff         timestamptz NOT NULL,
    chunks_dropped integer     NOT NULL DEFAULT 0,
    chunks_left    integer     NOT NULL DEFAULT 0,
    rows_removed   bigint      NOT NULL DEFAULT 0,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS retention_runs_table_finished_idx
    ON schemaflow.retention_runs (table_name, finished_at DESC);
