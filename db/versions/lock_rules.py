"""What a one-off may not do to other sessions' locks without a reviewed acknowledgement in its header.

The run sets the environment's lock_timeout and statement_timeout so that no statement queues every
reader behind it for longer than lock_timeout. A file that SETs them higher (or to 0, no limit), or
takes an explicit ACCESS EXCLUSIVE lock (`LOCK TABLE t`, whose default mode is that), undoes this:
`SET lock_timeout = 0; LOCK TABLE public.podcasts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(25)`
held every reader of podcasts for 25 s and was reported done. Both need the header line
`-- schemaflow: locks acknowledged: <reason>` (SF102, SF103); the run refuses a pending file without
it, and re-applies the environment's timeouts after every statement of a file that has not got it.

Re-applying works between statements only, so the rules look inside them too: `set_config(...)`
in a query, `RESET` and `SET ... TO DEFAULT` (back to a role or server default that may be no limit),
and the statements of a PL/pgSQL DO block (including an EXECUTE of a literal string), where a SET and
a LOCK share one top-level statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pglast import ast, enums, parse_plpgsql, parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor

from db.schema.statements import split_file
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
    """(line, parsed statement) for each statement of the up section that parses (SF001 reports the
    rest), followed, for a PL/pgSQL DO block, by the statements in its body."""
    for statement in split_file(f.up):
        yield from _parsed(statement.text, statement.line)


def _parsed(text: str, line: int) -> Iterator[tuple[int, ast.Node | None]]:
    try:
        parsed = parse_sql(text)
    except ParseError:
        return
    for raw in parsed:
        yield line, raw.stmt
        if isinstance(raw.stmt, ast.DoStmt):
            for inner_line, query in _do_block_queries(raw.stmt):
                yield from _parsed(query, line + inner_line - 1)


def _do_block_queries(stmt: ast.DoStmt) -> Iterator[tuple[int, str]]:
    """(line within the body, SQL text) of each statement a PL/pgSQL DO block runs, as far as the
    text shows it: an EXECUTE of anything but a string literal is not knowable here."""
    options = {d.defname: getattr(d.arg, "sval", None) for d in stmt.args or ()}
    body = options.get("as")
    if (options.get("language") or "plpgsql").lower() != "plpgsql" or not body:
        return
    wrapper = f"CREATE FUNCTION do_block() RETURNS void LANGUAGE plpgsql AS {_dollar_quote(body)}"
    try:
        tree = parse_plpgsql(wrapper)
    except ParseError:
        return
    yield from _queries_in(tree, line=1)


def _queries_in(node: object, line: int) -> Iterator[tuple[int, str]]:
    if isinstance(node, list):
        for item in node:
            yield from _queries_in(item, line)
        return
    if not isinstance(node, dict):
        return
    line = int(node.get("lineno", line))
    for key, value in node.items():
        if key == "PLpgSQL_expr" and isinstance(value, dict):
            query = str(value.get("query", ""))
            if value.get("parseMode") == 0:  # a whole SQL statement
                yield line, query
            elif query.startswith("'") and query.endswith("'"):  # EXECUTE 'LOCK TABLE ...'
                yield line, query[1:-1].replace("''", "'")
            else:
                yield line, f"SELECT {query}"  # an expression may call set_config()
        else:
            yield from _queries_in(value, line)


def _dollar_quote(body: str) -> str:
    tag = "$sf$"
    while tag in body:
        tag = tag[:-1] + "f$"
    return f"{tag}{body}{tag}"


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
    if isinstance(stmt, ast.VariableSetStmt):
        return _set_raises_timeout(stmt, limits)
    for name, value in _set_config_calls(stmt):
        message = _above_limit(f"set_config('{name}', ...)", name, value, limits)
        if message:
            return message
    return ""


def _set_raises_timeout(stmt: ast.VariableSetStmt, limits: dict[str, str] | None) -> str:
    kind = enums.VariableSetKind
    if stmt.kind == kind.VAR_RESET_ALL:
        return "RESET ALL (drops the environment's timeouts) without an acknowledgement"
    if stmt.name not in TIMEOUTS:
        return ""
    if stmt.kind in (kind.VAR_RESET, kind.VAR_SET_DEFAULT):
        verb = "RESET" if stmt.kind == kind.VAR_RESET else "SET ... TO DEFAULT on"
        return (
            f"{verb} {stmt.name} (back to the role's or server's default, which may be no limit) "
            "without an acknowledgement"
        )
    if not stmt.args:
        return ""
    arg = stmt.args[0]
    value = getattr(getattr(arg, "val", None), "ival", None)
    if value is None:
        value = getattr(getattr(arg, "val", None), "sval", "")
    return _above_limit(f"SET {stmt.name}", stmt.name, value, limits)


class _SetConfigCalls(Visitor):  # type: ignore[misc]
    """set_config('<timeout>', '<value>', ...) calls whose name and value are constants."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, object]] = []

    def visit_FuncCall(self, ancestors: object, node: ast.FuncCall) -> None:
        name = [getattr(part, "sval", "") for part in node.funcname or ()]
        if name[-1:] != ["set_config"] or len(node.args or ()) < 2:
            return
        args = tuple(node.args or ())
        setting, value = (getattr(getattr(arg, "val", None), "sval", None) for arg in args[:2])
        if setting in TIMEOUTS:
            self.found.append((setting, value if value is not None else "(computed)"))


def _set_config_calls(stmt: ast.Node | None) -> list[tuple[str, object]]:
    if stmt is None or isinstance(stmt, ast.DoStmt):
        return []
    calls = _SetConfigCalls()
    calls(stmt)
    return calls.found


def _above_limit(what: str, name: str, value: object, limits: dict[str, str] | None) -> str:
    asked = timeout_ms(value)
    ceiling = timeout_ms(limits[name]) if limits else None
    too_high = asked is None or asked == float("inf") or (ceiling is not None and asked > ceiling)
    if not too_high:
        return ""
    shown = f"{value}" + (" (no limit)" if asked == float("inf") else "")
    above = f"above the environment's {limits[name]}" if limits else "that lifts the limit"
    return f"{what} = {shown}, {above}, without an acknowledgement"


def _locks_exclusively(stmt: ast.Node | None) -> str:
    if isinstance(stmt, ast.LockStmt) and stmt.mode == ACCESS_EXCLUSIVE_MODE:
        names = ", ".join(
            f"{r.schemaname + '.' if r.schemaname else ''}{r.relname}" for r in stmt.relations or ()
        )
        return f"LOCK {names} IN ACCESS EXCLUSIVE MODE (blocks every reader) without an acknowledgement"
    return ""
