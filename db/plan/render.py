"""One Plan, four renderings: terminal text, JSON, a psql script, and the Markdown of a Prefect artifact."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from db.plan.model import Plan, Step
from db.plan.quoting import one_line

NO_CHANGES = "no changes: the database already matches the master file"
STEP_COLUMNS = ("#", "step", "lock", "where", "rows", "hazards")
SCRIPT_HEADER = """\
-- schemaflow plan {checksum}
-- computed against catalog {catalog}; schema file {schema}
-- Run with: psql -v ON_ERROR_STOP=1 -f THIS_FILE
SET check_function_bodies = false;  -- steps run in dependency order, as pg_dump's do
"""


def render_json(plan: Plan) -> str:
    return json.dumps(plan.as_dict(), indent=2, sort_keys=False)


def describe_step(step: Step) -> str:
    """One line: what it does, the lock on which relation, and its hazards."""
    lock = f"{step.lock} on {step.relation}" if step.lock else "no table lock"
    where = "in the transaction" if step.transactional else "online, after commit"
    hazards = f"; hazards: {', '.join(step.hazards)}" if step.hazards else ""
    size = ""
    if step.size:
        chunks = f", {step.size.chunks} chunks" if step.size.chunks is not None else ""
        known = step.size.estimated_rows >= 0
        rows = f"{step.size.rows_shown} rows" if known else f"rows {step.size.rows_shown}"
        size = f"; {rows}, {step.size.bytes:,} bytes{chunks}"
    # Names come from the database: one_line keeps a crafted name (a newline) inside a `--` comment.
    return one_line(f"{step.action} {step.kind} {step.name}: {lock}, {where}{size}{hazards}")


def render_text(plan: Plan, refused: Mapping[int, list[str]] | None = None, where: str = "") -> str:
    """`refused`: step number -> its hazards `where` (an environment) would not allow, marked on the step."""
    if plan.is_empty:
        return f"{NO_CHANGES} (plan {plan.checksum[:12]})"
    lines = [f"plan {plan.checksum[:12]}: {len(plan.steps)} step(s)"]
    lines += [f"  note: {note}" for note in plan.notes]
    lines += [f"  {plan.proof}"] if plan.proof else []
    for number, step in enumerate(plan.steps, 1):
        lines.append(f"{number:>3}. {describe_step(step)}")
        if refused and number in refused:
            lines.append(f"       NOT ALLOWED in {where}: {', '.join(refused[number])}")
        if step.hazards and step.reason:  # what the hazard means here: rows, chunks, the lock's reach
            lines.append(f"       why: {one_line(step.reason)}")
        lines += [f"       {line}" for line in step.sql.strip().splitlines()]
    return "\n".join(lines)


def render_script(plan: Plan) -> str:
    """Transactional steps inside one BEGIN ... COMMIT, then each online step on its own, marked."""
    out = [
        SCRIPT_HEADER.format(
            checksum=plan.checksum, catalog=plan.catalog_checksum, schema=plan.schema_checksum
        )
    ]
    if plan.is_empty:
        out.append(f"-- {NO_CHANGES}\n")
        return "".join(out)
    if plan.transactional_steps:
        out.append("BEGIN;\n")
        for step in plan.transactional_steps:
            out.append(f"-- {describe_step(step)}\n{_scripted(step)}\n")
        out.append("COMMIT;\n")
    for step in plan.online_steps:
        out.append(f"\n-- online (outside a transaction): {describe_step(step)}\n{_scripted(step)}\n")
    return "".join(out)


def _scripted(step: Step) -> str:
    """The statement as a script a person runs: a secret is never written, so its step is a comment
    (running the masked text would set the password to '***')."""
    if step.secret_sql:
        return f"-- {_terminated(step.sql)}  (not run here: the file holds the secret; migrate sets it)"
    return _terminated(step.sql)


def render_markdown(plan: Plan, refused: Mapping[int, list[str]] | None = None, where: str = "") -> str:
    """The artifact a reviewer reads in the Prefect UI before approving (or on a pull request, where
    `refused` marks each step whose hazards the environment `where` would not allow): the step table,
    why each hazard, then the SQL (each step's full description is its comment there)."""
    if plan.is_empty:
        return f"**{NO_CHANGES}**\n\nPlan checksum `{plan.checksum}`\n"
    head = [
        f"**{len(plan.steps)} step(s)**, plan checksum `{plan.checksum}`",
        "",
        f"Hazards: {', '.join(sorted(plan.hazards())) or 'none'}",
        "",
    ]
    why = [f"- step {n}: {one_line(s.reason)}" for n, s in enumerate(plan.steps, 1) if s.hazards and s.reason]
    sql = ["", "```sql", render_script(plan).rstrip(), "```"]
    table = step_table(plan, refused=refused, where=where)
    return "\n".join(head + table + (["", "Why the hazards:", "", *why] if why else []) + sql) + "\n"


def step_table(
    plan: Plan,
    *,
    columns: tuple[str, ...] = STEP_COLUMNS,
    refused: Mapping[int, list[str]] | None = None,
    where: str = "",
) -> list[str]:
    """The steps as a Markdown table of short cells, then each step's object (and the table it locks)
    as a numbered list below it.

    The Prefect UI never wraps a table cell, and the artifact is about 870 px wide at 1440 px (the
    Resume form about 450): a full object name in the table pushed the lock, where, rows and hazards
    columns out of sight. A list item wraps, so the long names go there (with the hazards `where`
    would refuse, from `refused`); `columns` picks what a narrower place shows."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for number, step in enumerate(plan.steps, 1):
        cells = [_cell(column, number, step) for column in columns]
        if refused and number in refused and "hazards" in columns:
            cells[columns.index("hazards")] += " **(refused)**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Objects, by step:", ""]
    for number, step in enumerate(plan.steps, 1):
        on = f" on `{step.relation}`" if step.relation and step.relation != step.name else ""
        not_allowed = (
            f" **(not allowed in {where}: {', '.join(refused[number])})**"
            if refused and number in refused
            else ""
        )
        lines.append(f"{number}. `{step.name}`{on}{not_allowed}")
    return lines


def _cell(column: str, number: int, step: Step) -> str:
    if column == "#":
        return str(number)
    if column == "step":
        return f"{step.action} {step.kind}"
    if column == "lock":
        return _spaced(str(step.lock)) if step.lock else "-"
    if column == "where":
        return "in txn" if step.transactional else "online"
    if column == "rows":
        return step.size.rows_shown if step.size else "-"
    return ", ".join(step.hazards) or "-"


def _spaced(lock: str) -> str:
    """ShareUpdateExclusiveLock -> Share Update Exclusive: the mode, without a word it always has."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", lock.removesuffix("Lock"))


def _terminated(statement: str) -> str:
    text = statement.strip()
    return text if text.endswith(";") else text + ";"
