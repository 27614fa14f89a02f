"""The schema file as statements, and where in the file a failing statement's error points.

Apply sends the file one statement at a time (inside its one transaction) so that any error, not only
a syntax error, names the line it came from: the server reports a position only for parse errors,
while "column does not exist" or "functions in index expression must be marked IMMUTABLE" arrive
without one, and an error inside a DO block only names the line within the block.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from pglast.parser import ParseError, scan, split

from db.errors import ApplyFailed
from db.schema.lint import split_statements

# plpgsql's context line for an anonymous block: "PL/pgSQL function inline_code_block line 5 at ..."
_DO_BLOCK_LINE = re.compile(r"PL/pgSQL function inline_code_block line (\d+)")
_STRING_TOKEN = "SCONST"  # the scanner's name for a string constant, dollar-quoted bodies included
# PL/pgSQL's COMMIT and ROLLBACK: inside the one transaction a DO block running them fails with
# "invalid transaction termination", but only after preflight and a backup.
_PLPGSQL_TRANSACTION_STATEMENTS = ('"PLpgSQL_stmt_commit"', '"PLpgSQL_stmt_rollback"')


@dataclass(frozen=True)
class Statement:
    """One statement of the file: its text and the 1-based line of the file where it starts."""

    line: int
    offset: int  # character offset of the statement in the file
    text: str


def split_file(text: str) -> list[Statement]:
    """The file's statements in order, with the line each starts on.

    The parser's split knows SQL-standard function bodies (BEGIN ATOMIC ... END) whose inner
    semicolons a scanner would cut at. A file that does not parse is split by the scanner instead,
    so the server still reports the syntax error of the one statement that is wrong, with its line.
    """
    try:
        slices = [(s.start, text[s]) for s in split(text, only_slices=True)]
    except ParseError:
        slices = split_statements(text)
    return [Statement(line=_line_at(text, start), offset=start, text=piece) for start, piece in slices]


def refuse_transaction_control(text: str) -> None:
    """A file with its own BEGIN/COMMIT would end our transaction early and lose all-or-nothing."""
    try:
        from pglast import parser  # C parser, a few ms even for a large file

        statements = parser.parse_sql(text)
    except Exception:
        return  # the server reports syntax errors with their position; let it
    for raw in statements:
        kind = type(raw.stmt).__name__
        if kind == "TransactionStmt" or (kind == "DoStmt" and _do_block_ends_transaction(text, raw)):
            line = text.count("\n", 0, raw.stmt_location or 0) + 1
            raise ApplyFailed(
                f"the schema file controls transactions itself (BEGIN/COMMIT near line {line})",
                hint="remove BEGIN/COMMIT/ROLLBACK (also inside DO blocks): schemaflow runs the whole "
                "file in one transaction",
            )


def _do_block_ends_transaction(text: str, raw: Any) -> bool:
    from pglast import parse_plpgsql

    start = raw.stmt_location or 0
    source = text[start : start + raw.stmt_len] if raw.stmt_len else text[start:]
    lowered = source.lower()
    if "commit" not in lowered and "rollback" not in lowered:
        return False  # parsing every DO block of a large file would cost a noticeable fraction of a second
    try:
        tree = json.dumps(parse_plpgsql(source))  # only PL/pgSQL blocks parse
    except Exception:
        return False
    return any(name in tree for name in _PLPGSQL_TRANSACTION_STATEMENTS)


def error_line(statement: Statement, exc: psycopg.Error) -> int:
    """The file's line the error points at: its position in the statement, else its DO-block line,
    else the statement's first line."""
    position = _int(exc.diag.statement_position)
    if position:
        return statement.line + statement.text.count("\n", 0, max(0, position - 1))
    block_line = do_block_line(statement, exc.diag.context or "")
    return block_line or statement.line


def do_block_line(statement: Statement, context: str) -> int | None:
    """For an error inside a DO block, the file's line: plpgsql counts lines from the body's opening quote."""
    found = _DO_BLOCK_LINE.search(context)
    if not found:
        return None
    try:
        body = next(t for t in scan(statement.text) if t.name == _STRING_TOKEN)
    except (ParseError, StopIteration):
        return None
    opening_line = statement.line + statement.text.count("\n", 0, body.start)
    return opening_line + int(found.group(1)) - 1


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
