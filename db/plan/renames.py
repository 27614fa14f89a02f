"""Inferred renames: a missing and an unexpected object of the same shape become one ALTER ... RENAME.

Shapes: a table with the same columns and types in the same order; a column of the same type at the
same position; an index or constraint with the same definition on the same table; a sequence with the
same options owned by the same column. Each inferred rename is a step (that keeps the rows) and a note,
and the live snapshot is rewritten as if renamed, so the rest of the plan compares like with like.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from db.plan.context import RENAME, PlanContext, Planned
from db.plan.quoting import qualified, quote_ident, split_child

Snapshot = dict[str, dict[str, dict[str, Any]]]


def _columns(snap: Snapshot, table: str) -> list[tuple[str, str]]:
    parent = f"table:{table}"
    return [(n.rsplit(".", 1)[1], c["type"]) for n, c in snap["column"].items() if c.get("parent") == parent]


def _unique_pairs(missing: dict[str, Any], unexpected: dict[str, Any]) -> list[tuple[str, str]]:
    """Pairs (expected name, live name) whose shapes match exactly one way round."""
    pairs = []
    for e_name, shape in missing.items():
        found = [a for a, a_shape in unexpected.items() if a_shape == shape]
        back = [e for e, e_shape in missing.items() if e_shape == shape]
        if len(found) == 1 and len(back) == 1:
            pairs.append((e_name, found[0]))
    return pairs


def _rewrite(snap: Snapshot, pattern: re.Pattern[str], new: str) -> Snapshot:
    """Every key and string in the snapshot with `pattern` replaced by `new`."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(new, value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        return value

    return walk(snap)  # type: ignore[no-any-return]


def _qualified_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r'(?<![\w$".])' + re.escape(name) + r"(?![\w$])")


def infer_renames(expected: Snapshot, actual: Snapshot, ctx: PlanContext) -> tuple[Snapshot, list[Planned]]:
    """The live snapshot as it will be after the inferred renames, and the rename steps."""
    actual = copy.deepcopy(actual)
    steps: list[Planned] = []
    missing = {t: _columns(expected, t) for t in expected["table"] if t not in actual["table"]}
    unexpected = {t: _columns(actual, t) for t in actual["table"] if t not in expected["table"]}
    for new, old in _unique_pairs(missing, unexpected):
        if new.split(".", 1)[0] != old.split(".", 1)[0] or not missing[new]:
            continue
        sql = f"ALTER TABLE {qualified(old)} RENAME TO {quote_ident(new.split('.', 1)[1])}"
        steps.append(
            ctx.step(
                f"table:{new}",
                "rename",
                sql,
                "ALTER TABLE RENAME",
                relation=old,
                phase=RENAME,
                reason=f"inferred: {old} has the columns and types of {new}",
            )
        )
        ctx.notes.append(
            f"rename of table {old} to {new} was inferred (same columns and types); rows are kept"
        )
        steps += _identity_sequences(actual, old, new, ctx)
        actual = _rewrite(actual, _qualified_pattern(old), new)
        bare = old.split(".", 1)[1]
        for column, _ in _columns(actual, new):
            steps += _not_null_follows(actual, new, column, bare, column, ctx)
    sequences = _rename_sequences(expected, actual, ctx)
    steps += sequences
    actual = _apply(actual, sequences, ctx)
    for kind in ("constraint", "index"):
        found = _rename_children(kind, expected, actual, ctx)
        steps += found
        actual = _apply(actual, found, ctx)
    columns = _rename_columns(expected, actual, ctx)
    steps += columns
    return actual, steps


def _apply(actual: Snapshot, steps: list[Planned], ctx: PlanContext) -> Snapshot:
    """The live snapshot after the rename steps of sequences, indexes and constraints."""
    for step in steps:
        kind = step.key.split(":", 1)[0]
        old, new = step.step.reason.rsplit(": ", 1)[1].split(" -> ")
        ctx.notes.append(f"rename of {kind} {old} to {new} was inferred (same definition)")
        if kind in ("sequence", "index"):
            actual = _rewrite(actual, _qualified_pattern(old), new)
            if kind == "index":
                entry = actual["index"][new]
                bare = quote_ident(new.split(".", 1)[1])
                entry["definition"] = re.sub(
                    r"INDEX \S+ ON", f"INDEX {bare} ON", entry["definition"], count=1
                )
        else:
            actual["constraint"][new] = actual["constraint"].pop(old)
            if f"constraint {old}" in actual["comment"]:
                comment = actual["comment"].pop(f"constraint {old}")
                actual["comment"][f"constraint {new}"] = dict(comment, parent=f"constraint:{new}")
    return actual


def _not_null_follows(
    actual: Snapshot, table: str, column: str, old_table: str, old_column: str, ctx: PlanContext
) -> list[Planned]:
    """A NOT NULL constraint (PostgreSQL 18) named `<old table>_<old column>_not_null`, as PostgreSQL
    names it, follows a rename of its table or column: neither rename touches it, and a database built
    from the file has it under the new names. Servers before 18 have none (no not_null_name)."""
    entry = actual["column"][f"{table}.{column}"]
    was, now = f"{old_table}_{old_column}_not_null", f"{table.split('.', 1)[1]}_{column}_not_null"
    if entry.get("not_null_name") != was or was == now or len(now) > 63:
        return []
    entry["not_null_name"] = now
    sql = f"ALTER TABLE {qualified(table)} RENAME CONSTRAINT {quote_ident(was)} TO {quote_ident(now)}"
    reason = f"its NOT NULL constraint follows the new name: {was} -> {now}"
    return [
        ctx.step(f"column:{table}.{column}", "rename", sql, "ALTER TABLE RENAME CONSTRAINT", relation=table,
                 phase=RENAME, reason=reason)
    ]  # fmt: skip


def _identity_sequences(actual: Snapshot, old: str, new: str, ctx: PlanContext) -> list[Planned]:
    """Identity sequences named after the old table (old_col_seq) follow it to the new name."""
    schema, old_bare = old.split(".", 1)
    new_bare = new.split(".", 1)[1]
    steps = []
    for name, column in actual["column"].items():
        col = name.rsplit(".", 1)[1]
        sequence = column.get("identity_sequence")
        if column.get("parent") != f"table:{old}" or sequence != f"{schema}.{old_bare}_{col}_seq":
            continue
        sql = f"ALTER SEQUENCE {qualified(sequence)} RENAME TO {quote_ident(f'{new_bare}_{col}_seq')}"
        steps.append(
            ctx.step(f"column:{new}.{col}", "rename", sql, "ALTER TABLE RENAME", phase=RENAME,
                     reason=f"the identity sequence follows the table's new name {new}")
        )  # fmt: skip
    return steps


def _rename_sequences(expected: Snapshot, actual: Snapshot, ctx: PlanContext) -> list[Planned]:
    def shape(e: dict) -> tuple:
        return tuple(e.get(k) for k in ("type", "increment", "min", "max", "cycle", "cache", "owned_by"))

    missing = {s: shape(e) for s, e in expected["sequence"].items() if s not in actual["sequence"]}
    unexpected = {s: shape(a) for s, a in actual["sequence"].items() if s not in expected["sequence"]}
    steps = []
    for new, old in _unique_pairs(missing, unexpected):
        if not missing[new][-1]:
            continue  # only a sequence owned by the same column is the same sequence
        sql = f"ALTER SEQUENCE {qualified(old)} RENAME TO {quote_ident(new.split('.', 1)[1])}"
        steps.append(
            ctx.step(
                f"sequence:{new}",
                "rename",
                sql,
                "ALTER TABLE RENAME",
                relation=old,
                phase=RENAME,
                reason=f"inferred: {old} -> {new}",
            )
        )
    return steps


def _rename_children(kind: str, expected: Snapshot, actual: Snapshot, ctx: PlanContext) -> list[Planned]:
    def shape(name: str, e: dict) -> tuple:
        bare = name.rsplit(".", 1)[1]
        definition = (
            re.sub(r"INDEX \S+ ON", "INDEX ON", e["definition"]) if kind == "index" else e["definition"]
        )
        return (
            e.get("parent"),
            e.get("type"),
            definition.replace(bare, "?") if kind == "index" else definition,
        )

    missing = {n: shape(n, e) for n, e in expected[kind].items() if n not in actual[kind]}
    unexpected = {n: shape(n, a) for n, a in actual[kind].items() if n not in expected[kind]}
    steps = []
    for new, old in _unique_pairs(missing, unexpected):
        if kind == "index":
            sql = f"ALTER INDEX {qualified(old)} RENAME TO {quote_ident(new.split('.', 1)[1])}"
            statement, relation = "ALTER INDEX RENAME", actual["index"][old]["table"]
        else:
            rel, con = split_child(old)
            sql = f"ALTER TABLE {rel} RENAME CONSTRAINT {con} TO {quote_ident(new.rsplit('.', 1)[1])}"
            statement, relation = "ALTER TABLE RENAME CONSTRAINT", old.rsplit(".", 1)[0]
        steps.append(
            ctx.step(
                f"{kind}:{new}",
                "rename",
                sql,
                statement,
                relation=relation,
                phase=RENAME,
                reason=f"inferred: {old} -> {new}",
            )
        )
    return steps


def _rename_columns(expected: Snapshot, actual: Snapshot, ctx: PlanContext) -> list[Planned]:
    steps = []
    for table in sorted(expected["table"].keys() & actual["table"].keys()):
        exp, act = _columns(expected, table), _columns(actual, table)
        exp_names, act_names = {n for n, _ in exp}, {n for n, _ in act}
        missing = {n: (i, t) for i, (n, t) in enumerate(exp) if n not in act_names}
        unexpected = {n: (i, t) for i, (n, t) in enumerate(act) if n not in exp_names}
        for new, old in _unique_pairs(missing, unexpected):
            sql = f"ALTER TABLE {qualified(table)} RENAME COLUMN {quote_ident(old)} TO {quote_ident(new)}"
            steps.append(
                ctx.step(
                    f"column:{table}.{new}",
                    "rename",
                    sql,
                    "ALTER TABLE RENAME COLUMN",
                    relation=table,
                    phase=RENAME,
                    reason=f"inferred: same type and position as {old}",
                )
            )
            ctx.notes.append(f"rename of column {table}.{old} to {new} was inferred (same type and position)")
            _rename_column_in(actual, table, old, new)
            bare = table.split(".", 1)[1]
            steps += _not_null_follows(actual, table, new, bare, old, ctx)
    return steps


def _rename_column_in(actual: Snapshot, table: str, old: str, new: str) -> None:
    """What PostgreSQL itself updates on RENAME COLUMN: the entry, and the table's own definitions."""
    entry = actual["column"].pop(f"{table}.{old}")
    actual["column"][f"{table}.{new}"] = entry
    word = re.compile(r'(?<![\w$".])' + re.escape(old) + r"(?![\w$])")
    for kind, field in (("constraint", "definition"), ("index", "definition"), ("trigger", "definition")):
        for entry in actual[kind].values():
            if entry.get("parent", "").endswith(f":{table}") and entry.get(field):
                entry[field] = word.sub(new, entry[field])
    refs = re.compile(r"(REFERENCES " + re.escape(table) + r"\()([^)]*)\)")
    for entry in actual["constraint"].values():
        entry["definition"] = refs.sub(
            lambda m: m.group(1) + word.sub(new, m.group(2)) + ")", entry["definition"]
        )
    for entry in actual["policy"].values():
        if entry.get("parent") == f"table:{table}":
            for field in ("using", "with_check"):
                if entry.get(field):
                    entry[field] = word.sub(new, entry[field])
    for key in [k for k in actual["comment"] if k == f"column {table}.{old}"]:
        actual["comment"][f"column {table}.{new}"] = dict(
            actual["comment"].pop(key), parent=f"column:{table}.{new}"
        )
    for entries in actual.values():
        for entry in entries.values():
            deps = entry.get("depends_on")
            if deps and f"column:{table}.{old}" in deps:
                entry["depends_on"] = sorted(
                    f"column:{table}.{new}" if d == f"column:{table}.{old}" else d for d in deps
                )
