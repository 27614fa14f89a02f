"""Where a confirmation came from, in words the run report shows.

Only the CLI turns SKIP_CONFIRMATION=true into a confirmation (for CI scripts that call the CLI); a
flow run never reads it, so a worker that happens to have it set cannot confirm a bare production
trigger. Every confirmed run records its source, never just "confirmed".
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SKIP_CONFIRMATION_VAR = "SKIP_CONFIRMATION"
CONFIRMED_BY_FLAG = "--yes"
CONFIRMED_BY_ENV = "SKIP_CONFIRMATION=true (CLI)"
CONFIRMED_BY_PROMPT = "typed yes"
CONFIRMED_BY_PARAMETER = "flow parameter confirm=true"
NOT_REQUIRED = "not required"
DRY_RUN = "not needed: a dry run changes nothing"
CLI_SOURCES = (CONFIRMED_BY_FLAG, CONFIRMED_BY_ENV, CONFIRMED_BY_PROMPT)
# What preflight is given when a person's approval of the plan, asked after it, is the confirmation.
APPROVAL_PENDING = "pending: the approval of the computed plan, asked after preflight"
CONFIRMATION_HINT = "pass confirm=true to the flow, or --yes on the CLI (SKIP_CONFIRMATION=true, CLI only)"


def confirmation_skipped(environ: Mapping[str, str] | None = None) -> bool:
    """True when SKIP_CONFIRMATION=true (or 1/yes) is set. For the CLI only: flows must not call this."""
    value = (os.environ if environ is None else environ).get(SKIP_CONFIRMATION_VAR, "")
    return value.strip().lower() in ("1", "true", "yes")


def flow_confirmation(confirm: bool, confirmed_by: str | None = None, *, dry_run: bool = False) -> str:
    """The source of a flow run's confirmation, or "" when it has none.

    `confirmed_by` is what the CLI says it saw (--yes, SKIP_CONFIRMATION, a typed yes); anything else
    with confirm=true (a deployment's parameter, the UI's form) is recorded as the parameter it is.
    """
    if confirm:
        return confirmed_by if confirmed_by in CLI_SOURCES else CONFIRMED_BY_PARAMETER
    return DRY_RUN if dry_run else ""
