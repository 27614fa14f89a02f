"""Statements of the master file whose effect no catalog snapshot shows, so a plan replays them.

The planner compares catalogs. Two kinds of statements in an idempotent master file leave nothing a
catalog comparison can see, and the old whole-file run applied them on every deploy:

- a role's password (`CREATE ROLE ... PASSWORD`, `ALTER ROLE ... PASSWORD`): only a superuser may
  read the stored verifier, and it never equals the text;
- reference rows (`INSERT ... ON CONFLICT ...`): rows, not schema.

Each is found with PostgreSQL's own parser (pglast), at the top level and, for role statements,
inside DO blocks, and becomes a `Replay`: the statement to run, the text every plan, log and artifact
shows (a password is always `'***'`), and what db/catalog/replay_checks.py needs to tell whether the
live database already has its effect. A replay is planned only when it is needed, so a database that
has the rows and the password plans nothing.

A few statements have an effect no plan can make faithfully (database and server settings, COPY,
CREATE DATABASE): those stop planning with their line and what to do instead, rather than being
skipped while plan and drift say the database matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from db.connection.scram import scram_verifier
from db.errors import ConfigError
from db.plan.quoting import literal, quote_ident
from db.schema.declared_roles import role_statements

PASSWORD, ROWS = "password", "rows"
MASK = "'***'"

_SETTINGS = (
    "database and server settings are not part of what schemaflow compares, so a plan would never apply it",
    "set it once outside the file (ALTER DATABASE / ALTER SYSTEM by the server's admin), or per role with "
    "ALTER ROLE ... SET, which plans compare",
)
_NOT_SCHEMA = (
    "it acts on the server or on data, not on the schema a plan compares",
    "run it outside the master file (a one-off migration for data: schemaflow new-migration)",
)
# Top-level statements whose effect no plan can make faithfully: (why, what to do instead).
NOT_PLANNED: dict[str, tuple[str, str]] = {
    "AlterDatabaseStmt": _SETTINGS,
    "AlterDatabaseSetStmt": _SETTINGS,
    "AlterSystemStmt": _SETTINGS,
    "CopyStmt": _NOT_SCHEMA,
    "CreatedbStmt": _NOT_SCHEMA,
    "DropdbStmt": _NOT_SCHEMA,
    "CreateSubscriptionStmt": _NOT_SCHEMA,
}


@dataclass(frozen=True)
class Replay:
    """One statement of the file that a plan runs again when the live database lacks its effect."""

    kind: str  # PASSWORD | ROWS
    name: str  # the role, or the table as 'schema.table'
    line: int  # where the statement starts in the file
    sql: str = field(repr=False)  # what runs: a password statement holds its SCRAM verifier
    shown: str  # what plans, logs, artifacts and history show
    password: str | None = field(default=None, repr=False)  # PASSWORD: the clear text (None: NULL)
    columns: tuple[str, ...] = ()  # ROWS: the columns the INSERT names (empty: the table's, in order)
    keys: tuple[str, ...] = ()  # ROWS: the columns that say a row is there (empty: the primary key)
    compare_all: bool = False  # ROWS: ON CONFLICT DO UPDATE: every inserted column must match
    source: str = ""  # ROWS: the INSERT's VALUES or SELECT, as SQL


def replayed_statements(text: str) -> list[Replay]:
    """The file's password statements and reference-row INSERTs, in file order."""
    found: list[Replay] = []
    passwords: dict[str, Replay] = {}
    encoded = text.encode()
    try:
        statements = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        statements = ()  # the scratch build reports what does not parse, with the server's words
    for raw in statements:
        line = encoded[: raw.stmt_location or 0].count(b"\n") + 1
        if isinstance(raw.stmt, ast.InsertStmt):
            found.append(_rows(raw.stmt, line))
        elif type(raw.stmt).__name__ in NOT_PLANNED:
            raise UnplannableStatement(line, *NOT_PLANNED[type(raw.stmt).__name__])
    for line, stmt in role_statements(text):
        replay = _password(stmt, line)
        if replay is not None:
            passwords[replay.name] = replay  # the file's last word on a role's password is its end state
    return sorted([*found, *passwords.values()], key=lambda r: r.line)


def _password(stmt: object, line: int) -> Replay | None:
    if isinstance(stmt, ast.CreateRoleStmt):
        role, options = str(stmt.role), stmt.options
    elif isinstance(stmt, ast.AlterRoleStmt) and stmt.role is not None and stmt.role.rolename:
        role, options = str(stmt.role.rolename), stmt.options
    else:
        return None
    for option in options or ():
        if option.defname == "password":
            secret = option.arg.sval if option.arg is not None else None
            statement = f"ALTER ROLE {quote_ident(role)} PASSWORD "
            return Replay(
                kind=PASSWORD,
                name=role,
                line=line,
                # Sent hashed, as psql's \password does: the clear text is in no statement a log keeps.
                sql=statement + (literal(_hashed(secret)) if secret is not None else "NULL"),
                shown=statement + (MASK if secret is not None else "NULL"),
                password=secret,
            )
    return None


def _hashed(secret: str) -> str:
    """The file's password as a SCRAM verifier (a verifier the file gives is kept as it is)."""
    return secret if secret.startswith(("SCRAM-SHA-256$", "md5")) else scram_verifier(secret)


def _rows(stmt: ast.InsertStmt, line: int) -> Replay:
    rel = stmt.relation
    assert rel is not None  # an INSERT always names its table
    table = f"{rel.schemaname or 'public'}.{rel.relname}"
    conflict = stmt.onConflictClause
    if conflict is None:
        raise UnplannableStatement(
            line,
            f"INSERT INTO {table} without ON CONFLICT adds its rows again on every deploy",
            "add ON CONFLICT (key) DO NOTHING (or DO UPDATE) so the file stays idempotent, or move the "
            "rows to a one-off migration (schemaflow new-migration)",
        )
    keys: tuple[str, ...] = ()
    if conflict.infer is not None and conflict.infer.indexElems:
        keys = tuple(str(e.name) for e in conflict.infer.indexElems if e.name)
    text = RawStream()(stmt)
    return Replay(
        kind=ROWS,
        name=table,
        line=line,
        sql=text,
        shown=text,
        columns=tuple(str(c.name) for c in stmt.cols or ()),
        keys=keys,
        compare_all=conflict.action == enums.OnConflictAction.ONCONFLICT_UPDATE,
        source=RawStream()(stmt.selectStmt) if stmt.selectStmt is not None else "",
    )


class UnplannableStatement(ConfigError):
    """A statement of the file that no plan can make take effect faithfully: its line, why, the fix."""

    def __init__(self, line: int, why: str, fix: str) -> None:
        super().__init__(f"the schema file's statement at line {line} cannot be planned: {why}", hint=fix)
        self.line = line
