"""The few exception types schemaflow raises; each message says what went wrong and what to do."""

from __future__ import annotations


class SchemaflowError(Exception):
    """Base error. `exit_code` is what the CLI exits with: 2 for usage/config, 1 for failed checks."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(SchemaflowError):
    """Bad input: an unknown environment, a malformed URL, a missing file or setting."""

    exit_code = 2


class ConnectionFailed(SchemaflowError):
    """The server could not be reached or refused us (wrong password, missing database, timeout)."""

    exit_code = 2


class CheckFailed(SchemaflowError):
    """A preflight, verification or health check failed; `rows` carries the report."""

    def __init__(self, message: str, *, hint: str | None = None, rows: list | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rows = rows or []


class HazardsNotAllowed(CheckFailed):
    """A plan has steps whose hazards the environment does not allow; nothing was changed."""

    def __init__(self, message: str, *, hint: str | None = None, steps: list | None = None) -> None:
        super().__init__(message, hint=hint)
        self.steps = steps or []


class MigrationLocked(SchemaflowError):
    """Another migration holds the advisory lock; the message names the holder."""


class ApplyFailed(SchemaflowError):
    """The master file failed to apply; the transaction was rolled back and nothing changed."""

    # The attempt's ApplyResult (mode, attempts, seconds), so the run report shows that apply ran.
    result: object | None = None


class ApplyInterrupted(ApplyFailed):
    """SIGTERM stopped apply: its statement was cancelled and rolled back. Never retried automatically."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a process ended by it (cf. 130 for Ctrl-C)


class BackupFailed(SchemaflowError):
    """pg_dump or pg_restore failed, or a dump could not be verified; a required backup stops the run."""


class RestoreInterrupted(BackupFailed):
    """SIGTERM stopped a restore: pg_restore was stopped and the unfinished database dropped."""

    exit_code = 143  # as ApplyInterrupted


class LocalClusterError(SchemaflowError):
    """The embedded local PostgreSQL cluster could not be initialised, started or stopped."""

    exit_code = 2
