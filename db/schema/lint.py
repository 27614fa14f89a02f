"""Static checks of a re-runnable schema file with PostgreSQL's own parser (pglast).

The master file is applied on every deploy, so each statement must parse, be idempotent, and never
destroy data unless a DO block guards it. Findings carry the line of the statement and a rule id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError, scan

from db.errors import ConfigError

# rule id -> (name, what to do). The ids are stable: tests and CI output refer to them.
RULES: dict[str, tuple[str, str]] = {
    "SF001": ("parse-error", "fix the syntax; the statement does not parse as PostgreSQL"),
    "SF002": (
        "create-not-idempotent",
        "use CREATE ... IF NOT EXISTS / CREATE OR REPLACE, or a DO block that checks the catalog",
    ),
    "SF003": (
        "unguarded-destructive",
        "destructive statements belong in a reviewed one-off migration, or a DO block whose IF "
        "makes them run at most once",
    ),
    "SF004": (
        "alter-column-type",
        "changing a column's type rewrites the table; do it in a reviewed one-off migration",
    ),
    "SF005": (
        "alter-not-idempotent",
        "use ADD COLUMN IF NOT EXISTS; add constraints inside a DO block that checks pg_constraint",
    ),
    "SF006": (
        "not-transactional",
        "the file runs in one transaction: no BEGIN/COMMIT, CONCURRENTLY or cagg refresh here",
    ),
    "SF007": (
        "unguarded-do-block",
        "a DO block that creates or changes objects must check the catalog first (IF/EXCEPTION)",
    ),
}

_CREATE_IDEMPOTENT_FLAGS = ("if_not_exists", "replace")
_DESTRUCTIVE = (
    ast.DropStmt,
    ast.TruncateStmt,
    ast.DeleteStmt,
    ast.UpdateStmt,
    ast.DropRoleStmt,
    ast.DropOwnedStmt,
    ast.DropdbStmt,
    ast.DropTableSpaceStmt,
    ast.DropSubscriptionStmt,
    ast.DropUserMappingStmt,
)
_DESTRUCTIVE_ALTERS = {
    enums.AlterTableType.AT_DropColumn: "ALTER TABLE ... DROP COLUMN",
    enums.AlterTableType.AT_DropConstraint: "ALTER TABLE ... DROP CONSTRAINT",
    enums.AlterTableType.AT_DropNotNull: "ALTER TABLE ... DROP NOT NULL",
}
_NON_TRANSACTIONAL_CALLS = {"refresh_continuous_aggregate"}
# A DO block is guarded by an exception handler, by a query of the catalog (a loop over what is not
# there yet) or by an IF/ELSIF whose condition reads something; `IF true THEN` (or 1 = 1) guards
# nothing and runs the change on every apply.
_HANDLER = re.compile(r"\bEXCEPTION\s+WHEN\b", re.IGNORECASE)
_CATALOG = re.compile(r"\b(?:pg_[a-z_]+|information_schema|to_reg[a-z]+)\b", re.IGNORECASE)
_CONDITION = re.compile(r"(?<!END )\b(?:IF|ELSIF)\b(.*?)\bTHEN\b", re.IGNORECASE | re.DOTALL)
_CONSTANT = re.compile(
    r"\s*(?:NOT\s+)*\(?\s*(?:TRUE|FALSE|NULL|\d+\s*(?:=|<>|!=)\s*\d+|'[^']*'\s*(?:=|<>|!=)\s*'[^']*')\s*\)?\s*",
    re.IGNORECASE,
)
_DO_CHANGES = re.compile(r"\b(CREATE|DROP|ALTER|TRUNCATE|DELETE|UPDATE|EXECUTE|PERFORM)\b", re.IGNORECASE)
_SEMICOLON = "ASCII_59"
_COMMENTS = {"SQL_COMMENT", "C_COMMENT"}


@dataclass(frozen=True)
class Finding:
    """One problem: where (1-based line), which rule, and what was found."""

    line: int
    rule: str
    message: str

    @property
    def name(self) -> str:
        return RULES[self.rule][0]

    @property
    def hint(self) -> str:
        return RULES[self.rule][1]

    def format(self, path: str = "<sql>") -> str:
        """`path:line: RULE name: message` — the shape editors and CI annotate."""
        return f"{path}:{self.line}: {self.rule} {self.name}: {self.message}"


def split_statements(text: str) -> list[tuple[int, str]]:
    """(start offset, text) of each statement, split on top-level semicolons by the SQL scanner."""
    pieces: list[tuple[int, str]] = []
    start: int | None = None
    for token in scan(text):
        if token.name in _COMMENTS:
            continue
        if token.name == _SEMICOLON:
            if start is not None:
                pieces.append((start, text[start : token.start]))
            start = None
        elif start is None:
            start = token.start
    if start is not None:
        pieces.append((start, text[start:]))
    return pieces


def lint_sql(text: str) -> list[Finding]:
    """Every finding in `text`, in file order; [] when the file follows the rules."""
    findings: list[Finding] = []
    try:
        pieces = split_statements(text)
    except ParseError as exc:  # an unterminated string or comment: nothing can be split reliably
        return [Finding(_line_at(text, _error_offset(exc)), "SF001", str(exc.args[0]))]
    for offset, piece in pieces:
        line = _line_at(text, offset)
        try:
            statements = parse_sql(piece)
        except ParseError as exc:
            findings.append(
                Finding(_line_at(text, offset + _error_offset(exc, piece)), "SF001", str(exc.args[0]))
            )
            continue
        for raw in statements:
            if raw.stmt is not None:
                findings.extend(_check_statement(raw.stmt, line))
    return findings


def lint_file(path: Path | str) -> list[Finding]:
    """Lint a file; a missing or unreadable file is a ConfigError (exit code 2)."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{target} not found", hint="pass the path of an SQL file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {target}: {exc}") from None
    return lint_sql(text)


def _check_statement(stmt: ast.Node, line: int) -> list[Finding]:
    if isinstance(stmt, ast.DoStmt):
        return _check_do(stmt, line)
    if isinstance(stmt, _DESTRUCTIVE):
        return [Finding(line, "SF003", f"{_describe_destructive(stmt)} outside a guarded DO block")]
    if isinstance(stmt, ast.TransactionStmt):
        return [Finding(line, "SF006", "transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT) in the file")]
    if isinstance(stmt, ast.IndexStmt) and stmt.concurrent:
        return [Finding(line, "SF006", "CREATE INDEX CONCURRENTLY cannot run inside a transaction block")]
    if isinstance(stmt, ast.CallStmt) and _called_name(stmt) in _NON_TRANSACTIONAL_CALLS:
        return [Finding(line, "SF006", "refresh_continuous_aggregate() cannot run in a transaction block")]
    if isinstance(stmt, ast.AlterTableStmt):
        return _check_alter_table(stmt, line)
    if _is_create(stmt) and not any(getattr(stmt, flag, False) for flag in _CREATE_IDEMPOTENT_FLAGS):
        return [Finding(line, "SF002", f"{_describe_create(stmt)} without IF NOT EXISTS / OR REPLACE")]
    return []


def _check_do(stmt: ast.DoStmt, line: int) -> list[Finding]:
    body = next((str(arg.arg.sval) for arg in stmt.args or () if arg.defname == "as"), "")
    code = _strip_plpgsql_comments(body)
    if _DO_CHANGES.search(code) and not _guarded(code):
        constant = any(_CONSTANT.fullmatch(m.group(1)) for m in _CONDITION.finditer(code))
        what = ", but its IF tests a constant, not the catalog" if constant else " without checking first"
        return [Finding(line, "SF007", f"DO block changes objects{what}")]
    return []


def _guarded(code: str) -> bool:
    if _HANDLER.search(code) or _CATALOG.search(code):
        return True
    return any(not _CONSTANT.fullmatch(m.group(1)) for m in _CONDITION.finditer(code))


def _check_alter_table(stmt: ast.AlterTableStmt, line: int) -> list[Finding]:
    findings = []
    for cmd in stmt.cmds or ():
        if cmd.subtype == enums.AlterTableType.AT_AlterColumnType:
            findings.append(Finding(line, "SF004", f"ALTER COLUMN {cmd.name} TYPE"))
        elif cmd.subtype in _DESTRUCTIVE_ALTERS:
            findings.append(Finding(line, "SF003", _DESTRUCTIVE_ALTERS[cmd.subtype]))
        elif cmd.subtype == enums.AlterTableType.AT_AddColumn and not cmd.missing_ok:
            column = getattr(cmd.def_, "colname", "?")
            findings.append(Finding(line, "SF005", f"ADD COLUMN {column} without IF NOT EXISTS"))
        elif cmd.subtype == enums.AlterTableType.AT_AddConstraint:
            findings.append(Finding(line, "SF005", "ADD CONSTRAINT fails on a second run"))
    return findings


def _is_create(stmt: ast.Node) -> bool:
    name = type(stmt).__name__
    return (name.startswith("Create") and name.endswith("Stmt")) or isinstance(
        stmt, ast.IndexStmt | ast.ViewStmt | ast.RuleStmt | ast.DefineStmt | ast.CompositeTypeStmt
    )


def _describe_create(stmt: ast.Node) -> str:
    if isinstance(stmt, ast.CreateTableAsStmt):
        return (
            "CREATE MATERIALIZED VIEW"
            if stmt.objtype == enums.ObjectType.OBJECT_MATVIEW
            else "CREATE TABLE AS"
        )
    if isinstance(stmt, ast.IndexStmt):
        return f"CREATE INDEX {stmt.idxname or ''}".rstrip()
    if isinstance(stmt, ast.CreateStmt):
        return f"CREATE TABLE {stmt.relation.relname if stmt.relation else ''}".rstrip()
    if isinstance(stmt, ast.ViewStmt | ast.RuleStmt):
        return "CREATE " + _verb(type(stmt).__name__)
    return _verb(type(stmt).__name__)


def _describe_destructive(stmt: ast.Node) -> str:
    if isinstance(stmt, ast.DropStmt):
        kind = stmt.removeType.name.removeprefix("OBJECT_") if stmt.removeType else ""
        return f"DROP {kind.replace('_', ' ')}".rstrip()
    return _verb(type(stmt).__name__)


def _verb(kind: str) -> str:
    # CreatePolicyStmt -> "CREATE POLICY", DropStmt -> "DROP"
    words = re.findall(r"[A-Z][a-z]*", kind.removesuffix("Stmt"))
    return " ".join(words).upper()


def _called_name(stmt: ast.CallStmt) -> str:
    names = stmt.funccall.funcname if stmt.funccall else ()
    return str(names[-1].sval).lower() if names else ""


def _strip_plpgsql_comments(code: str) -> str:
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", code)


def _error_offset(exc: ParseError, piece: str | None = None) -> int:
    at = int(exc.args[1]) if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
    if at <= 0 and piece is not None and "end of input" in str(exc.args[0]):
        return len(piece)  # the parser reached the statement's end: its terminator is where it stopped
    return at


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1
