-- Desired file B (idempotent, like the master file).
CREATE TABLE IF NOT EXISTS public.audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY (INCREMENT BY 10) PRIMARY KEY,
    action text NOT NULL
);
