"""Constraints and indexes: the online forms for tables that may hold rows are built in here.

- A FOREIGN KEY or CHECK on a populated table: ADD ... NOT VALID in the transaction (a brief lock),
  then VALIDATE CONSTRAINT after it (SHARE UPDATE EXCLUSIVE: reads and writes go on).
- A PRIMARY KEY / UNIQUE on a populated plain table: CREATE UNIQUE INDEX CONCURRENTLY, then
  ADD CONSTRAINT ... USING INDEX (a catalog change). A key WITHOUT OVERLAPS (PostgreSQL 18) is a
  GiST index no CREATE UNIQUE INDEX can build: it is added in one statement, a declared long lock.
- An index on a populated plain table: CREATE INDEX CONCURRENTLY IF NOT EXISTS (outside a transaction).
  On a hypertable CONCURRENTLY is refused: a non-unique index is built WITH
  (timescaledb.transaction_per_chunk) instead, one chunk per transaction; a unique one cannot be, and
  is a plain CREATE UNIQUE INDEX that blocks writes while it builds.
"""

from __future__ import annotations

import re

from db.plan.context import BUILD, DROP, KindPlanner, PlanContext, Planned
from db.plan.quoting import qualified, quote_ident, split_child

_REFERENCES = re.compile(r"REFERENCES ((?:\"(?:[^\"]|\"\")*\"|[^.(\s]+)\.(?:\"(?:[^\"]|\"\")*\"|[^(\s]+))\(")
_SIMPLE_KEY = re.compile(r"^(PRIMARY KEY|UNIQUE) \(([^()]*)\)$")
_STATEMENT = {"f": "ALTER TABLE ADD FOREIGN KEY", "c": "ALTER TABLE ADD CHECK"}


def _unquote(name: str) -> str:
    parts = re.findall(r'"((?:[^"]|"")*)"|([^."]+)', name)
    return ".".join(q.replace('""', '"') if q else p for q, p in parts)


def _create_constraint(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    if not e.get("local", True):
        return []  # inherited from a parent table or a partitioned table's constraint
    table = name.rsplit(".", 1)[0]
    rel, con = split_child(name)
    key, definition = f"constraint:{name}", e["definition"]
    refs = _REFERENCES.search(definition) if e["type"] == "f" else None
    also = (_unquote(refs.group(1)),) if refs else ()
    statement = _STATEMENT.get(e["type"], "ALTER TABLE ADD PRIMARY KEY")
    online = ctx.populated(table) and not ctx.is_new(table)
    if online and e["type"] in ("f", "c") and e["validated"]:
        return [
            ctx.step(
                key,
                "create",
                f"ALTER TABLE {rel} ADD CONSTRAINT {con} {definition} NOT VALID",
                statement,
                relation=table,
                also_locks=also,
                reason="NOT VALID first: existing rows are checked next",
            ),
            ctx.step(
                key,
                "validate",
                f"ALTER TABLE {rel} VALIDATE CONSTRAINT {con}",
                "ALTER TABLE VALIDATE CONSTRAINT",
                relation=table,
                transactional=False,
                validates=True,
            ),
        ]
    simple = _SIMPLE_KEY.match(definition)
    if simple and " WITHOUT OVERLAPS" in simple.group(2):
        simple = None
    if online and simple and not ctx.is_hypertable(table) and not e.get("deferrable"):
        kind, columns = simple.groups()
        index = f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {con} ON {rel} ({columns})"
        attach = f"ALTER TABLE {rel} ADD CONSTRAINT {con} {kind} USING INDEX {con}"
        return [
            ctx.step(key, "create", index, "CREATE INDEX CONCURRENTLY", relation=table, transactional=False),
            ctx.step(
                key,
                "create",
                attach,
                "ALTER TABLE ADD PRIMARY KEY",
                relation=table,
                transactional=False,
                validates=kind == "PRIMARY KEY",
                reason="the index is built; this only attaches it",
            ),
        ]
    sql = f"ALTER TABLE {rel} ADD CONSTRAINT {con} {definition}"
    return [
        ctx.step(
            key,
            "create",
            sql,
            statement,
            relation=table,
            also_locks=also,
            validates=online,
            long_lock=online and e["type"] in ("p", "u", "x"),
        )
    ]


def _drop_constraint(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    if not a.get("local", True):
        return []
    table = name.rsplit(".", 1)[0]
    rel, con = split_child(name)
    sql = f"ALTER TABLE {rel} DROP CONSTRAINT {con}"
    return [
        ctx.step(f"constraint:{name}", "drop", sql, "ALTER TABLE DROP CONSTRAINT", relation=table, phase=DROP)
    ]


def _alter_constraint(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    same = e["definition"].replace(" NOT VALID", "") == a["definition"].replace(" NOT VALID", "")
    if same and e["validated"] and not a["validated"] and e.get("local") == a.get("local"):
        table = name.rsplit(".", 1)[0]
        rel, con = split_child(name)
        sql = f"ALTER TABLE {rel} VALIDATE CONSTRAINT {con}"
        return [
            ctx.step(
                f"constraint:{name}",
                "validate",
                sql,
                "ALTER TABLE VALIDATE CONSTRAINT",
                relation=table,
                transactional=False,
                validates=True,
            )
        ]
    return None


def _top_level_where(definition: str) -> int:
    """Where a partial index's WHERE starts (outside parentheses and quotes), or -1."""
    depth, quote = 0, False
    for i, ch in enumerate(definition):
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        elif not quote and depth == 0 and definition.startswith(" WHERE ", i):
            return i
    return -1


def _with_option(definition: str, option: str) -> str:
    if " WITH (" in definition:
        return definition.replace(" WITH (", f" WITH ({option}, ", 1)
    at = _top_level_where(definition)
    return (
        f"{definition} WITH ({option})" if at < 0 else f"{definition[:at]} WITH ({option}){definition[at:]}"
    )


def _create_index(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    if e.get("attached"):
        return _attached_index(name, e, ctx)
    return _build_index(name, e, ctx)


def _attached_index(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    """A partition's index: CREATE INDEX on the partitioned table builds it, unless that index is
    ON ONLY the parent; then it is built on the partition and attached by its own steps."""
    parent = e.get("attached_to")
    parent_entry = ctx.expected.get("index", {}).get(parent or "") or {}
    if " ON ONLY " not in parent_entry.get("definition", ""):
        return []
    steps = _build_index(name, {**e, "attached": False}, ctx)
    sql = f"ALTER INDEX {qualified(str(parent))} ATTACH PARTITION {qualified(name)}"
    steps.append(
        ctx.step(
            f"index:{name}",
            "alter",
            sql,
            "ALTER INDEX RENAME",
            relation=e["table"],
            requires=(f"index:{parent}",),
        )
    )
    return steps


def _build_index(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    table, key, definition = e["table"], f"index:{name}", e["definition"]
    unique = definition.startswith("CREATE UNIQUE INDEX ")
    head = "CREATE UNIQUE INDEX " if unique else "CREATE INDEX "
    body = definition[len(head) :]
    parent_kind = e.get("parent", "table:").split(":", 1)[0]
    partitioned = ctx.is_partitioned(table)
    if ctx.is_new(table) or not ctx.populated(table) or partitioned or parent_kind == "cagg":
        sql = f"{head}IF NOT EXISTS {body}"
        return [ctx.step(key, "create", sql, "CREATE INDEX", relation=table, long_lock=True)]
    if ctx.is_hypertable(table):
        if unique:
            sql = f"{head}IF NOT EXISTS {body}"
            return [
                ctx.step(
                    key,
                    "create",
                    sql,
                    "CREATE INDEX",
                    relation=table,
                    long_lock=True,
                    reason="a unique index on a hypertable cannot be built per chunk",
                )
            ]
        sql = _with_option(f"{head}IF NOT EXISTS {body}", "timescaledb.transaction_per_chunk")
        return [
            ctx.step(
                key,
                "create",
                sql,
                "CREATE INDEX",
                relation=table,
                transactional=False,
                reason="one transaction per chunk: each chunk is locked only while it builds",
            )
        ]
    sql = f"{head}CONCURRENTLY IF NOT EXISTS {body}"
    return [ctx.step(key, "create", sql, "CREATE INDEX CONCURRENTLY", relation=table, transactional=False)]


def _drop_index(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    if a.get("attached"):
        return []
    table, key = a["table"], f"index:{name}"
    partitioned = ctx.is_partitioned(table, side="actual")
    if ctx.populated(table) and not ctx.is_hypertable(table) and not partitioned and ctx.exists(table):
        sql = f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(name)}"
        return [
            ctx.step(
                key, "drop", sql, "DROP INDEX CONCURRENTLY", relation=table, phase=DROP, transactional=False
            )
        ]
    sql = f"DROP INDEX IF EXISTS {qualified(name)}"
    return [ctx.step(key, "drop", sql, "DROP INDEX", relation=table, phase=DROP)]


def _alter_index(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    """A valid index with another definition on a table that has rows: the new one is built first
    (online, under a temporary name), then the old one dropped and the new one renamed, so the table
    is never without it. Anything else (left invalid by an interrupted build, a new or empty table,
    a partition's index, one a constraint depends on) is dropped and built again."""
    table = e["table"]
    if (
        not a.get("valid", True)
        or e.get("attached")
        or a.get("attached")
        or e.get("parent") != a.get("parent")
    ):
        return None
    partitioned = ctx.is_partitioned(table)
    unique = e["definition"].startswith("CREATE UNIQUE INDEX ")
    if not ctx.populated(table) or partitioned or e.get("parent", "").startswith("cagg:"):
        return None
    if (unique and ctx.is_hypertable(table)) or _depended_on(f"index:{name}", ctx):
        return None
    schema, index = name.split(".", 1)
    temporary = f"{schema}.{index[:48]}_schemaflow_new"
    built = _build_index(temporary, {**e, "definition": _renamed(e["definition"], temporary)}, ctx)
    dropped = _drop_index(name, a, ctx)
    rename = ctx.step(
        f"index:{name}", "rename", rename_index_sql(temporary, name), "ALTER INDEX RENAME", relation=table
    )
    key = f"index:{name}"
    return [Planned(p.step, key, BUILD, p.requires) for p in (*built, *dropped)] + [rename]


def _renamed(definition: str, name: str) -> str:
    head = "CREATE UNIQUE INDEX " if definition.startswith("CREATE UNIQUE INDEX ") else "CREATE INDEX "
    rest = definition[len(head) :]
    on = rest.index(" ON ")
    return f"{head}{quote_ident(name.split('.', 1)[1])}{rest[on:]}"


def _depended_on(key: str, ctx: PlanContext) -> bool:
    """Something on the live side needs the index (a foreign key over a unique index)."""
    return any(
        key in entry.get("depends_on", ()) for entries in ctx.actual.values() for entry in entries.values()
    )


def rename_index_sql(old: str, new: str) -> str:
    return f"ALTER INDEX {qualified(old)} RENAME TO {quote_ident(new.split('.', 1)[1])}"


PLANNERS = {
    "constraint": KindPlanner(_create_constraint, _drop_constraint, _alter_constraint),
    "index": KindPlanner(_create_index, _drop_index, _alter_index),
}
