"""Squawk, the PostgreSQL migration linter, over a plan's SQL (render_script), findings mapped to steps.

Squawk judges each statement as if it ran alone in a psql file. Some of what it asks for is done by
schemaflow itself, by construction, so those rules are turned off (SQUAWK_EXCLUDED_RULES, each with
why); a few forms are right only in context (a hypertable index built per chunk, the plan's own
scaffolding CHECK dropped again), so those findings are dropped for those statements only
(FORM_EXEMPTIONS). Everything else Squawk finds is reported against the step it came from.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from db.errors import ConfigError
from db.plan.model import Plan, Step
from db.plan.render import render_script

# Rules the executor (db/deploy/execute.py) satisfies by construction for every step.
SQUAWK_EXCLUDED_RULES: dict[str, str] = {
    # The executor sets lock_timeout before every step: SET LOCAL in the transaction, and on the
    # session for online steps. render_script is the reviewable SQL and leaves the SETs out.
    "require-lock-timeout": "the executor sets lock_timeout for every step",
    "require-statement-timeout": "the executor sets statement_timeout for every step",
    # Transactional steps are all-or-nothing in one transaction; online steps are idempotent (IF NOT
    # EXISTS, VALIDATE of a valid constraint is a no-op) and an index an interrupted build left
    # invalid is dropped and rebuilt by the next run, so a failure part way through is resumable.
    "prefer-robust-stmts": "the executor makes every step resumable",
}
# Judgements of the master file's column types, not of the plan: the file's author and its review
# decide those, and a plan only reproduces what the file says.
SCHEMA_DESIGN_RULES: dict[str, str] = {
    "prefer-bigint-over-int": "column types are the master file's decision",
    "prefer-bigint-over-smallint": "column types are the master file's decision",
    "prefer-identity": "column types are the master file's decision",
    "prefer-timestamptz": "column types are the master file's decision",
    "ban-char-field": "column types are the master file's decision",
}
PER_CHUNK = "timescaledb.transaction_per_chunk"
_ADDED_CONSTRAINT = re.compile(r"\bADD\s+CONSTRAINT\s+(\S+)", re.IGNORECASE)
_DROPPED_CONSTRAINT = re.compile(r"\bDROP\s+CONSTRAINT\s+(?:IF\s+EXISTS\s+)?(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class SquawkFinding:
    """One Squawk warning: the plan step (1-based; None for BEGIN/COMMIT lines) and the rule."""

    step: int | None
    rule: str
    message: str
    line: int  # 1-based line of render_script(plan)

    def format(self) -> str:
        where = f"step {self.step}" if self.step else f"script line {self.line}"
        return f"{where}: {self.rule}: {self.message}"


def lint_plan(plan: Plan, *, pg_version: str = "15") -> list[SquawkFinding]:
    """Squawk's findings for the plan's SQL, less the rules and forms schemaflow handles itself."""
    if plan.is_empty:
        return []
    script = render_script(plan)
    spans = _step_lines(script, plan)
    findings = []
    for raw in _run_squawk(script, pg_version):
        line = int(raw["line"]) + 1  # Squawk counts lines from 0
        step = next((n for n, (first, last) in spans.items() if first <= line <= last), None)
        finding = SquawkFinding(step, raw["rule_name"], raw["message"], line)
        if step is None or not _exempt(finding, plan.steps[step - 1], plan):
            findings.append(finding)
    return findings


def squawk_binary() -> str:
    """The squawk executable of this environment (PyPI squawk-cli), or a ConfigError saying how to get it."""
    beside = Path(sys.executable).with_name("squawk")
    found = str(beside) if beside.exists() else shutil.which("squawk")
    if not found:
        raise ConfigError("squawk is not installed", hint="install the project's dependencies (squawk-cli)")
    return found


def _run_squawk(script: str, pg_version: str) -> list[dict]:
    excluded = ",".join([*SQUAWK_EXCLUDED_RULES, *SCHEMA_DESIGN_RULES])
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="schemaflow-plan-") as handle:
        handle.write(script)
        handle.flush()
        done = subprocess.run(
            [squawk_binary(), "--reporter", "json", f"--pg-version={pg_version}", f"--exclude={excluded}",
             handle.name],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    if done.returncode not in (0, 1):
        raise ConfigError(f"squawk failed (exit {done.returncode}): {done.stderr.strip()[:300]}")
    return json.loads(done.stdout or "[]")


def _step_lines(script: str, plan: Plan) -> dict[int, tuple[int, int]]:
    """Step number -> (first, last) 1-based line of its SQL in the script, in render_script's order."""
    numbers = {id(step): n for n, step in enumerate(plan.steps, 1)}
    spans: dict[int, tuple[int, int]] = {}
    cursor = 0
    for step in (*plan.transactional_steps, *plan.online_steps):
        text = step.sql.strip()
        start = script.find(text, cursor)
        if start < 0:
            continue
        first = script.count("\n", 0, start) + 1
        spans[numbers[id(step)]] = (first, first + text.count("\n"))
        cursor = start + len(text)
    return spans


def _exempt(finding: SquawkFinding, step: Step, plan: Plan) -> bool:
    """True where the statement's form is safe in context (FORM_EXEMPTIONS)."""
    if finding.rule == "require-concurrent-index-creation" and PER_CHUNK in step.sql:
        # CONCURRENTLY is refused on a hypertable; per chunk, each chunk is locked only while it builds.
        return True
    if finding.rule == "ban-drop-constraint":
        # Dropping the CHECK the plan itself added to prove SET NOT NULL without a scan.
        dropped = _DROPPED_CONSTRAINT.search(step.sql)
        earlier = plan.steps[: plan.steps.index(step)]
        added = {m.group(1) for s in earlier if (m := _ADDED_CONSTRAINT.search(s.sql))}
        return bool(dropped and dropped.group(1) in added)
    return False


FORM_EXEMPTIONS = {
    "require-concurrent-index-creation": "an index built WITH (timescaledb.transaction_per_chunk)",
    "ban-drop-constraint": "the DROP of a constraint the same plan added earlier (SET NOT NULL scaffolding)",
}
