-- schemaflow's own bookkeeping: one row per migrate run (success or failure). Idempotent, so apply
-- runs it inside the migration's transaction every time; a failed run writes its row separately.
CREATE SCHEMA IF NOT EXISTS schemaflow;

COMMENT ON SCHEMA schemaflow IS 'Owned by the schemaflow tool (migration history); not part of the master schema.';

CREATE TABLE IF NOT EXISTS schemaflow.migration_history (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment      text        NOT NULL,
    checksum         text        NOT NULL,
    schema_mode      text,
    outcome          text        NOT NULL CHECK (outcome IN ('success', 'failed')),
    objects_changed  integer     NOT NULL DEFAULT 0,
    attempts         integer     NOT NULL DEFAULT 1,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    duration_seconds numeric(12, 3) NOT NULL,
    db_user          text        NOT NULL DEFAULT current_user,
    os_user          text,
    client_host      text,
    git_commit       text,
    error_message    text,
    changes          jsonb       NOT NULL DEFAULT '[]'::jsonb
);

-- Who approved which plan (require_approval environments); added later, so added idempotently.
ALTER TABLE schemaflow.migration_history
    ADD COLUMN IF NOT EXISTS plan_checksum   text,
    ADD COLUMN IF NOT EXISTS approval_reason text,
    ADD COLUMN IF NOT EXISTS approved_by     text,
    ADD COLUMN IF NOT EXISTS approval_source text;

CREATE INDEX IF NOT EXISTS migration_history_environment_started_idx
    ON schemaflow.migration_history (environment, started_at DESC);

-- The pgBackRest restore point made before the run (backup = "pgbackrest"); added idempotently.
ALTER TABLE schemaflow.migration_history ADD COLUMN IF NOT EXISTS restore_point text;

-- The master file's lint rules a reviewer let this run through (--allow-lint RULE); added idempotently.
ALTER TABLE schemaflow.migration_history ADD COLUMN IF NOT EXISTS allowed_lint text[];
