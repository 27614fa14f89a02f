-- schemaflow's record of one-off migrations (db/versions/): one row per file per event, beside the
-- per-run rows of migration_history (run_id points at the run that applied it, when known).
-- Idempotent: created inside the migrate transaction whenever one-offs are present.
CREATE SCHEMA IF NOT EXISTS schemaflow;

CREATE TABLE IF NOT EXISTS schemaflow.migration_versions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version          text        NOT NULL,
    slug             text        NOT NULL,
    checksum         text        NOT NULL,
    -- applied: it ran; baseline: a fresh database got its effect from the master file;
    -- repair: a deliberate new checksum for an applied file; rollback: its down section ran.
    kind             text        NOT NULL CHECK (kind IN ('applied', 'baseline', 'repair', 'rollback')),
    outcome          text        NOT NULL CHECK (outcome IN ('success', 'failed')),
    environment      text        NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL DEFAULT now(),
    duration_seconds numeric(12, 3) NOT NULL DEFAULT 0,
    db_user          text        NOT NULL DEFAULT current_user,
    out_of_order     boolean     NOT NULL DEFAULT false,
    restore_command  text,       -- how to restore the backup taken before it ran
    detail           text
);

CREATE INDEX IF NOT EXISTS migration_versions_version_idx ON schemaflow.migration_versions (version, id);

-- Where a batched backfill stands, written in each batch's own transaction (resumable after kill -9).
CREATE TABLE IF NOT EXISTS schemaflow.migration_backfill (
    version     text    NOT NULL,
    statement   integer NOT NULL,   -- the UPDATE's position in the file's up section
    last_key    text[],             -- the primary key of the batch's last row, as text
    batches     integer NOT NULL DEFAULT 0,
    rows_done   bigint  NOT NULL DEFAULT 0,
    finished    boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, statement)
);
-- Passes over the table (a backfill ends only on a pass that finds no matching row) and the rows
-- still matching when it last stopped short (0 once finished); added to tables of older versions.
ALTER TABLE schemaflow.migration_backfill ADD COLUMN IF NOT EXISTS passes integer NOT NULL DEFAULT 0;
ALTER TABLE schemaflow.migration_backfill ADD COLUMN IF NOT EXISTS left_matching bigint;
