"""Lint of one-off files: Squawk (db/plan/squawk.py) and the project's rules, plus the acknowledgement.

A one-off is reviewed once and runs once, so the master file's idempotency rules do not all apply.
What does, by file kind:
- every file: it parses (SF001); a statement that drops or rewrites (DROP, TRUNCATE, DELETE,
  DROP COLUMN, ALTER COLUMN ... TYPE, an UPDATE outside a batch file) needs the header line
  `-- schemaflow: destroys-data acknowledged: <reason>` (SF101);
- every file: no SET of lock_timeout/statement_timeout above the environment's (0 = none) and no
  explicit ACCESS EXCLUSIVE lock without `-- schemaflow: locks acknowledged: <reason>` (SF102, SF103,
  db/versions/lock_rules.py);
- a transactional file: nothing that cannot run in a transaction (SF006, the master's rule);
- a no-transaction or batch file: each statement idempotent (SF002, SF005), since a rerun after a
  failure part way starts it again from the top.
Squawk judges the up section (less the rules schemaflow satisfies by construction); its findings
are reported as warnings, the project's rules as errors. migrate refuses a pending file with an
SF101 finding before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast, enums

from db.errors import CheckFailed
from db.plan.squawk import _run_squawk  # the one Squawk runner (its excluded rules say why)
from db.schema.lint import lint_sql
from db.schema.statements import split_file
from db.versions.files import MigrationFile
from db.versions.lock_rules import LOCKS_ACK_HINT, lock_findings, parsed_statements

TRANSACTIONAL_RULES = {"SF001", "SF006"}
AUTOCOMMIT_RULES = {"SF001", "SF002", "SF005"}
ACK_RULE = "SF101"
ACK_HINT = "add `-- schemaflow: destroys-data acknowledged: <reason>` to the file's header, after review"
DESTRUCTIVE_ALTERS = {
    enums.AlterTableType.AT_DropColumn: "DROP COLUMN",
    enums.AlterTableType.AT_AlterColumnType: "ALTER COLUMN ... TYPE (rewrites the table)",
}


@dataclass(frozen=True)
class MigrationFinding:
    file: str
    line: int
    rule: str
    message: str
    severity: str  # error | warning

    def format(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.rule}: {self.message}"


def lint_migration(
    f: MigrationFile, *, squawk: bool = True, limits: dict[str, str] | None = None
) -> list[MigrationFinding]:
    """Every finding for one file, errors first; `limits`: the environment's timeouts, when known."""
    rules = TRANSACTIONAL_RULES if f.transactional else AUTOCOMMIT_RULES
    found = [
        MigrationFinding(f.name, x.line, x.rule, x.message, "error")
        for x in lint_sql(f.up)
        if x.rule in rules
    ]
    found += destroys_unacknowledged(f)
    found += [
        MigrationFinding(f.name, line, rule, message, "error")
        for line, rule, message in lock_findings(f, limits)
    ]
    if squawk and split_file(f.up):
        found += [
            MigrationFinding(f.name, int(r["line"]) + 1, r["rule_name"], r["message"], "warning")
            for r in _run_squawk(f.up, "15")
        ]
    return sorted(found, key=lambda x: (x.severity != "error", x.line))


def destroys_unacknowledged(f: MigrationFile) -> list[MigrationFinding]:
    """SF101 for each statement that drops or rewrites, unless the file acknowledges it."""
    if f.acknowledged:
        return []
    out = []
    for line, stmt in parsed_statements(f):
        what = _destroys(stmt, batched=f.batch is not None)
        if what:
            found = f"{what} without an acknowledgement"
            out.append(MigrationFinding(f.name, line, ACK_RULE, found, "error"))
    return out


def _destroys(stmt: ast.Node | None, *, batched: bool) -> str:
    if isinstance(stmt, ast.DropStmt):
        return "DROP"
    if isinstance(stmt, ast.TruncateStmt | ast.DeleteStmt):
        return type(stmt).__name__.removesuffix("Stmt").upper()
    if isinstance(stmt, ast.UpdateStmt) and not batched:
        return "UPDATE outside a batch file"
    if isinstance(stmt, ast.AlterTableStmt):
        for cmd in stmt.cmds or ():
            if isinstance(cmd, ast.AlterTableCmd) and cmd.subtype in DESTRUCTIVE_ALTERS:
                return DESTRUCTIVE_ALTERS[cmd.subtype]
    return ""


def refuse_unacknowledged(files: list[MigrationFile], limits: dict[str, str] | None = None) -> None:
    """CheckFailed naming the first pending file that drops or rewrites, raises a timeout above
    `limits` or locks ACCESS EXCLUSIVE, without acknowledging it."""
    for f in files:
        locks = lock_findings(f, limits)
        if locks:
            line, rule, message = locks[0]
            raise CheckFailed(
                f"one-off {f.name} line {line}: {rule}: {message}; nothing was changed", hint=LOCKS_ACK_HINT
            )
        found = destroys_unacknowledged(f)
        if found:
            raise CheckFailed(
                f"one-off {f.name} line {found[0].line}: {found[0].message}; nothing was changed",
                hint=ACK_HINT,
            )
