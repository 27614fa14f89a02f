"""The cheap checks of a schema file, run before preflight connects and before any backup.

A missing file, a statement that does not parse, or a file that runs its own BEGIN/COMMIT (or
CONCURRENTLY, which cannot run in a transaction) would fail apply anyway, but only after preflight's
connections and a full backup, and those wasted backups push good ones out of keep_backups. These
checks read one local file, in under a second.

Lint is part of the plan: any other finding (a non-idempotent ADD CONSTRAINT, SF005, fails the
second run that meets it) stops plan and migrate the same way, unless a reviewer names the rule with
`--allow-lint RULE` (the flow's allow_lint), which the run's history row records.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from db.errors import CheckFailed, ConfigError
from db.schema.lint import RULES, lint_sql
from db.schema.master_file import MASTER_SCHEMA, read_schema
from db.schema.statements import refuse_transaction_control

# SF001 parse-error, SF006 not-transactional: the file cannot run as one transaction at all.
BLOCKING_RULES = ("SF001", "SF006")
# Texts (with their file name and allowed rules) that passed in this process: parsing and linting the
# master file is ~0.5 s, and `schemaflow migrate` checks it in the CLI and again in the flow it runs.
_passed: set[tuple[str, str, frozenset[str]]] = set()


def check_schema_file(path: Path | str | None = None, allow_lint: Iterable[str] = ()) -> str:
    """Read the schema file (default: the master file) and refuse what cannot apply; return its text.

    ConfigError for a missing file or an unknown rule in `allow_lint` (exit 2); ApplyFailed for
    BEGIN/COMMIT and CheckFailed for a parse error, CONCURRENTLY or a lint finding whose rule
    `allow_lint` does not name (exit 1), each naming the line.
    """
    allowed = allowed_lint_rules(allow_lint)
    text = read_schema(path)
    key = (str(path or MASTER_SCHEMA), text, frozenset(allowed))
    if key in _passed:  # the CLI checked this very text before its in-process flow checks it again
        return text
    refuse_transaction_control(text)
    found = lint_sql(text)
    blocking = [f for f in found if f.rule in BLOCKING_RULES]
    if blocking:
        first = blocking[0]
        raise CheckFailed(
            f"{first.format(str(path or MASTER_SCHEMA))}; nothing was done"
            + (f" ({len(blocking) - 1} more such finding(s))" if len(blocking) > 1 else ""),
            hint=first.hint,
        )
    refused = [f for f in found if f.rule not in allowed]
    if refused:
        first = refused[0]
        more = f" ({len(refused) - 1} more: `schemaflow lint` lists them)" if len(refused) > 1 else ""
        raise CheckFailed(
            f"lint: {first.format(str(path or MASTER_SCHEMA))}; nothing was done{more}",
            hint=f"{first.hint}; or, after review, pass --allow-lint {first.rule} (history records it)",
        )
    _passed.add(key)
    return text


def allowed_lint_rules(rules: Iterable[str]) -> set[str]:
    """The lint rule ids a run may pass with (upper-cased); ConfigError naming an unknown one."""
    allowed = {str(rule).strip().upper() for rule in rules if str(rule).strip()}
    unknown = sorted(allowed - set(RULES))
    if unknown:
        raise ConfigError(
            f"unknown lint rule(s) for --allow-lint: {', '.join(unknown)}",
            hint=f"use one of {', '.join(sorted(RULES))} (see `schemaflow lint`)",
        )
    return allowed
