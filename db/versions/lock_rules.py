"""What a one-off may not do to other sessions' locks without a reviewed acknowledgement in its header.

The run sets the environment's lock_timeout and statement_timeout so that no statement queues every
reader behind it for longer than lock_timeout. A file that SETs them higher (or to 0, no limit), or
takes an explicit ACCESS EXCLUSIVE lock (`LOCK TABLE t`, whose default mode is that), undoes this:
`SET lock_timeout = 0; LOCK TABLE public.podcasts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(25)`
held every reader of podcasts for 25 s and was reported done. Both need the header line
`-- schemaflow: locks acknowledged: <reason>` (SF102, SF103); the run refuses a pending file without
it, and re-applies the environment's timeouts after every statement of a file that has not got it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pglast import ast, parse_sql
from pglast.parser import ParseError

from db.deploy.statements import split_file
from db.versions.files import MigrationFile

TIMEOUT_RULE = "SF102"
EXCLUSIVE_RULE = "SF103"
LOCKS_ACK_HINT = "add `-- schemaflow: locks acknowledged: <reason>` to the file's header, after review"
TIMEOUTS = ("lock_timeout", "statement_timeout")
ACCESS_EXCLUSIVE_MODE = 8  # pglast's LockStmt.mode for ACCESS EXCLUSIVE (LOCK TABLE's default)
# PostgreSQL's time units for a setting whose base unit is milliseconds; a bare number is ms.
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
VALUE = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>us|ms|s|min|h|d)?\s*$", re.IGNORECASE)


def timeout_ms(value: object) -> float | None:
    """A timeout setting in milliseconds (0 means no limit: infinity); None when unreadable."""
    match = VALUE.match(str(value))
    if match is None:
        return None
    ms = float(match["number"]) * UNIT_MS[(match["unit"] or "ms").lower()]
    return float("inf") if ms == 0 else ms


def parsed_statements(f: MigrationFile) -> Iterator[tuple[int, ast.Node | None]]:
    """(line, parsed statement) for each statement of the up section that parses (SF001 reports the rest)."""
    for statement in split_file(f.up):
        try:
            parsed = parse_sql(statement.text)
        except ParseError:
            continue
        for raw in parsed:
            yield statement.line, raw.stmt


def lock_findings(f: MigrationFile, limits: dict[str, str] | None = None) -> list[tuple[int, str, str]]:
    """(line, rule, message) for each SET above `limits` (any 0 when None) and each explicit
    ACCESS EXCLUSIVE lock, unless the file acknowledges them."""
    if f.locks_acknowledged:
        return []
    found = []
    for line, stmt in parsed_statements(f):
        message = _raises_timeout(stmt, limits) or _locks_exclusively(stmt)
        if message:
            rule = TIMEOUT_RULE if "timeout" in message else EXCLUSIVE_RULE
            found.append((line, rule, message))
    return found


def _raises_timeout(stmt: ast.Node | None, limits: dict[str, str] | None) -> str:
    if not isinstance(stmt, ast.VariableSetStmt) or stmt.name not in TIMEOUTS or not stmt.args:
        return ""
    arg = stmt.args[0]
    value = getattr(getattr(arg, "val", None), "ival", None)
    if value is None:
        value = getattr(getattr(arg, "val", None), "sval", "")
    asked = timeout_ms(value)
    ceiling = timeout_ms(limits[stmt.name]) if limits else None
    too_high = asked is None or asked == float("inf") or (ceiling is not None and asked > ceiling)
    if not too_high:
        return ""
    shown = f"{value}" + (" (no limit)" if asked == float("inf") else "")
    above = f"above the environment's {limits[stmt.name]}" if limits else "that lifts the limit"
    return f"SET {stmt.name} = {shown}, {above}, without an acknowledgement"


def _locks_exclusively(stmt: ast.Node | None) -> str:
    if isinstance(stmt, ast.LockStmt) and stmt.mode == ACCESS_EXCLUSIVE_MODE:
        names = ", ".join(
            f"{r.schemaname + '.' if r.schemaname else ''}{r.relname}" for r in stmt.relations or ()
        )
        return f"LOCK {names} IN ACCESS EXCLUSIVE MODE (blocks every reader) without an acknowledgement"
    return ""
