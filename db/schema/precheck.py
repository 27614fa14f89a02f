"""The cheap checks of a schema file, run before preflight connects and before any backup.

A missing file, a statement that does not parse, or a file that runs its own BEGIN/COMMIT (or
CONCURRENTLY, which cannot run in a transaction) would fail apply anyway, but only after preflight's
connections and a full backup, and those wasted backups push good ones out of keep_backups. These
checks read one local file, in milliseconds. Lint findings about idempotency are apply's and the
lint command's business, not a reason to refuse a rehearsal file here.
"""

from __future__ import annotations

from pathlib import Path

from db.deploy.statements import refuse_transaction_control
from db.errors import CheckFailed
from db.schema.lint import lint_sql
from db.schema.master_file import MASTER_SCHEMA, read_schema

# SF001 parse-error, SF006 not-transactional: the file cannot run as one transaction at all.
BLOCKING_RULES = ("SF001", "SF006")


def check_schema_file(path: Path | str | None = None) -> str:
    """Read the schema file (default: the master file) and refuse what cannot apply; return its text.

    ConfigError for a missing file (exit 2); ApplyFailed for BEGIN/COMMIT and CheckFailed for a
    parse error or CONCURRENTLY (exit 1), each naming the line.
    """
    text = read_schema(path)
    refuse_transaction_control(text)
    blocking = [f for f in lint_sql(text) if f.rule in BLOCKING_RULES]
    if blocking:
        first = blocking[0]
        raise CheckFailed(
            f"{first.format(str(path or MASTER_SCHEMA))}; nothing was done"
            + (f" ({len(blocking) - 1} more such finding(s))" if len(blocking) > 1 else ""),
            hint=first.hint,
        )
    return text
