"""The schema file as statements, and where in the file a failing statement's error points.

Apply sends the file one statement at a time (inside its one transaction) so that any error, not only
a syntax error, names the line it came from: the server reports a position only for parse errors,
while "column does not exist" or "functions in index expression must be marked IMMUTABLE" arrive
without one, and an error inside a DO block only names the line within the block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from pglast.parser import ParseError, scan, split

from db.schema.lint import split_statements

# plpgsql's context line for an anonymous block: "PL/pgSQL function inline_code_block line 5 at ..."
_DO_BLOCK_LINE = re.compile(r"PL/pgSQL function inline_code_block line (\d+)")
_STRING_TOKEN = "SCONST"  # the scanner's name for a string constant, dollar-quoted bodies included


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
