"""Columns: add, drop, and each in-place change ALTER TABLE ... ALTER COLUMN knows.

A generated column's expression cannot be changed in place in PostgreSQL 15 (no SET EXPRESSION), so
it is dropped and added again (the values are recomputed: the table is rewritten). SET NOT NULL on a
table that may hold rows goes through a CHECK (c IS NOT NULL) NOT VALID, its VALIDATE (which takes
only SHARE UPDATE EXCLUSIVE), then SET NOT NULL, which PostgreSQL proves from the valid CHECK
without a scan, and the CHECK is dropped.

PostgreSQL 18 keeps a column's NOT NULL as a constraint with a name, NOT VALID and NO INHERIT (the
snapshot's `not_null_constraint` holds what differs from a plain NOT NULL): a name is renamed, NOT
VALID is validated (SHARE UPDATE EXCLUSIVE) and NO INHERIT is altered in place, never dropped and
added again with a scan. A virtual generated column (18) is computed when read: adding one rewrites
nothing, and a switch between VIRTUAL and STORED is a drop and an add, as a new expression is.
"""

from __future__ import annotations

import re
from typing import Any

from db.plan.context import DROP, KindPlanner, PlanContext, Planned
from db.plan.quoting import qualified, quote_ident

_IDENTITY = {"a": "ALWAYS", "d": "BY DEFAULT"}
_NOT_NULL_NAME = re.compile(r'^CONSTRAINT ("(?:[^"]|"")+"|\S+)')


def identity_options(opts: dict[str, Any] | None) -> str:
    if not opts:
        return ""
    cycle = "CYCLE" if opts.get("cycle") else "NO CYCLE"
    return (
        f" (INCREMENT BY {opts['increment']} MINVALUE {opts['min']} MAXVALUE {opts['max']} "
        f"START WITH {opts['start']} CACHE {opts['cache']} {cycle})"
    )


def column_sql(column: str, e: dict[str, Any]) -> str:
    """The column as it appears in CREATE TABLE or ADD COLUMN."""
    parts = [quote_ident(column), e["type"]]
    if e.get("collation"):
        parts.append(f"COLLATE {quote_ident(e['collation'])}")
    if e.get("generated"):
        parts.append(f"GENERATED ALWAYS AS ({e['generated']}) {'VIRTUAL' if e.get('virtual') else 'STORED'}")
    elif e.get("identity"):
        parts.append(
            f"GENERATED {_IDENTITY[e['identity']]} AS IDENTITY{identity_options(e.get('identity_options'))}"
        )
    elif e.get("default") is not None:
        parts.append(f"DEFAULT {e['default']}")
    if e.get("not_null") and not e.get("identity"):
        # NOT VALID is a table constraint's clause only: a new column's NOT NULL is checked at once.
        facets = e.get("not_null_constraint", "")
        named = _NOT_NULL_NAME.match(facets)
        if named:
            parts.append(named.group(0))
        parts.append("NOT NULL NO INHERIT" if "NO INHERIT" in facets else "NOT NULL")
    return " ".join(parts)


def _split(name: str) -> tuple[str, str, str]:
    table, column = name.rsplit(".", 1)
    return table, qualified(table), quote_ident(column)


def _create(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    table, rel, _ = _split(name)
    steps: list[Planned] = []
    # Part of the CREATE TABLE when the table is new; an inherited one arrives with the parent's.
    if not ctx.is_new(table) and e.get("local", True):
        sql = f"ALTER TABLE {rel} ADD COLUMN {column_sql(name.rsplit('.', 1)[1], e)}"
        # A volatile default or a generated/identity column fills every existing row.
        stored = e.get("generated") and not e.get("virtual")
        rewrites = bool(stored or e.get("identity") or _volatile(e.get("default")))
        steps.append(
            ctx.step(
                f"column:{name}", "create", sql, "ALTER TABLE ADD COLUMN", relation=table, rewrites=rewrites
            )
        )
    if e.get("acl"):
        from db.plan.kinds.security import column_grants  # security reads columns: import at use

        steps += column_grants(name, e, {**e, "acl": []}, ctx)
    return steps


def _is_enum(type_text: str, ctx: PlanContext) -> bool:
    name = type_text.replace('"', "")
    return any(
        (snap.get("type", {}).get(name) or {}).get("type") == "enum" for snap in (ctx.expected, ctx.actual)
    )


def _volatile(default: str | None) -> bool:
    return default is not None and any(
        f in default for f in ("random()", "gen_random_uuid()", "clock_timestamp()")
    )


def _drop(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    table, rel, col = _split(name)
    if not a.get("local", True):
        return []
    sql = f"ALTER TABLE {rel} DROP COLUMN {col}"
    return [
        ctx.step(
            f"column:{name}",
            "drop",
            sql,
            "ALTER TABLE DROP COLUMN",
            relation=table,
            phase=DROP,
            destroys=not a.get("generated"),
        )
    ]


def _alter(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    table, rel, col = _split(name)
    key = f"column:{name}"
    if e.get("generated") != a.get("generated") or e.get("virtual") != a.get("virtual"):
        stored = a.get("generated") and not a.get("virtual")  # a virtual column has no DROP EXPRESSION
        if stored and not e.get("generated") and _same_shape(e, a, "generated", "default"):
            sql = f"ALTER TABLE {rel} ALTER COLUMN {col} DROP EXPRESSION"
            first = [ctx.step(key, "alter", sql, "ALTER TABLE ALTER COLUMN DROP EXPRESSION", relation=table)]
            return first + (_alter(name, e, {**a, "generated": None, "default": None}, ctx) or [])
        return None  # a new expression: drop the column and add it again
    steps: list[Planned] = []

    def add(sql: str, statement: str, **kw: Any) -> None:
        steps.append(ctx.step(key, "alter", f"ALTER TABLE {rel} {sql}", statement, relation=table, **kw))

    retyped = e["type"] != a["type"] or e.get("collation") != a.get("collation")
    if retyped:
        collate = f" COLLATE {quote_ident(e['collation'])}" if e.get("collation") else ""
        # An enum casts to no other type but text: another enum (or from one) goes through text.
        through = "::text" if _is_enum(e["type"], ctx) or _is_enum(a["type"], ctx) else ""
        using = f" USING {col}{through}::{e['type']}" if e["type"] != a["type"] else ""
        parts = [f"ALTER COLUMN {col} TYPE {e['type']}{collate}{using}"]
        if a.get("default") is not None:  # a default of the old type may not cast: set it again after
            parts.insert(0, f"ALTER COLUMN {col} DROP DEFAULT")
            if e.get("default") is not None:
                parts.append(f"ALTER COLUMN {col} SET DEFAULT {e['default']}")
        add(", ".join(parts), "ALTER TABLE ALTER COLUMN TYPE", rewrites=True)
    elif e.get("default") != a.get("default") and not e.get("identity"):
        verb = f"SET DEFAULT {e['default']}" if e.get("default") is not None else "DROP DEFAULT"
        add(f"ALTER COLUMN {col} {verb}", "ALTER TABLE ALTER COLUMN DEFAULT")
    steps += _identity(name, e, a, ctx, add)
    if e["not_null"] != a["not_null"] and not (e.get("identity") and not a.get("identity")):
        if not e["not_null"]:
            add(f"ALTER COLUMN {col} DROP NOT NULL", "ALTER TABLE ALTER COLUMN NOT NULL")
        elif "NOT VALID" in e.get("not_null_constraint", ""):
            # Wanted unchecked: added as such, with no scan of the rows.
            inherit = " NO INHERIT" if "NO INHERIT" in e["not_null_constraint"] else ""
            add(
                f"ADD CONSTRAINT {_not_null_name(name, e)} NOT NULL {col} NOT VALID{inherit}",
                "ALTER TABLE ADD CHECK",
            )
        else:
            steps += _set_not_null(name, ctx)
            steps += _not_null_facets(name, e, {}, add)
    elif e["not_null"] and a["not_null"]:
        steps += _not_null_facets(name, e, a, add)
    if sorted(e.get("acl") or []) != sorted(a.get("acl") or []):
        from db.plan.kinds.security import column_grants  # security reads columns: import at use

        steps += column_grants(name, e, a, ctx)
    return steps


def _identity(name: str, e: dict, a: dict, ctx: PlanContext, add: Any) -> list[Planned]:
    _, _, col = _split(name)
    want, have = e.get("identity"), a.get("identity")
    if want and not have:
        if a.get("default") is not None:
            add(f"ALTER COLUMN {col} DROP DEFAULT", "ALTER TABLE ALTER COLUMN DEFAULT")
        opts = identity_options(e.get("identity_options"))
        extra = "" if a.get("not_null") else f"ALTER COLUMN {col} SET NOT NULL, "
        add(
            f"{extra}ALTER COLUMN {col} ADD GENERATED {_IDENTITY[want]} AS IDENTITY{opts}",
            "ALTER TABLE ALTER COLUMN IDENTITY",
            validates=not a.get("not_null"),
        )
    elif have and not want:
        add(f"ALTER COLUMN {col} DROP IDENTITY IF EXISTS", "ALTER TABLE ALTER COLUMN IDENTITY")
        if e.get("default") is not None:
            add(f"ALTER COLUMN {col} SET DEFAULT {e['default']}", "ALTER TABLE ALTER COLUMN DEFAULT")
    elif want and have:
        parts = []
        if want != have:
            parts.append(f"SET GENERATED {_IDENTITY[want]}")
        wo, ho = e.get("identity_options") or {}, a.get("identity_options") or {}
        words = {
            "increment": "INCREMENT BY",
            "min": "MINVALUE",
            "max": "MAXVALUE",
            "start": "START WITH",
            "cache": "CACHE",
        }
        parts += [f"SET {word} {wo[k]}" for k, word in words.items() if wo.get(k) != ho.get(k)]
        if wo.get("cycle") != ho.get("cycle"):
            parts.append("SET CYCLE" if wo.get("cycle") else "SET NO CYCLE")
        if parts:
            add(f"ALTER COLUMN {col} " + " ".join(parts), "ALTER TABLE ALTER COLUMN IDENTITY")
    return []


def _not_null_name(name: str, entry: dict) -> str:
    """The NOT NULL constraint's name: the one the entry gives, else PostgreSQL's `<table>_<col>_not_null`."""
    named = _NOT_NULL_NAME.match(entry.get("not_null_constraint", ""))
    if named:
        return named.group(1)
    table, column = name.rsplit(".", 2)[1:]
    return quote_ident(f"{table}_{column}_not_null"[:63])


def _not_null_facets(name: str, e: dict, a: dict, add: Any) -> list[Planned]:
    """Rename, validate or re-inherit an existing NOT NULL constraint to what the file says (18)."""
    want, have = e.get("not_null_constraint", ""), a.get("not_null_constraint", "")
    if want == have:
        return []
    _, _, col = _split(name)
    old, new = _not_null_name(name, a), _not_null_name(name, e)
    if old != new:
        add(f"RENAME CONSTRAINT {old} TO {new}", "ALTER TABLE RENAME CONSTRAINT")
    if ("NOT VALID" in have) and ("NOT VALID" not in want):
        add(f"VALIDATE CONSTRAINT {new}", "ALTER TABLE VALIDATE CONSTRAINT", validates=True)
    elif ("NOT VALID" in want) and ("NOT VALID" not in have):
        # A checked constraint cannot be marked unchecked: dropped and added NOT VALID (no scan).
        inherit = " NO INHERIT" if "NO INHERIT" in want else ""
        add(
            f"DROP CONSTRAINT {new}, ADD CONSTRAINT {new} NOT NULL {col} NOT VALID{inherit}",
            "ALTER TABLE ADD CHECK",
        )
        return []
    if ("NO INHERIT" in want) != ("NO INHERIT" in have):
        verb = "NO INHERIT" if "NO INHERIT" in want else "INHERIT"
        add(f"ALTER CONSTRAINT {new} {verb}", "ALTER TABLE ALTER CONSTRAINT")
    return []


def _set_not_null(name: str, ctx: PlanContext) -> list[Planned]:
    table, rel, col = _split(name)
    key = f"column:{name}"
    if not ctx.populated(table) or ctx.is_hypertable(table):
        # Nothing to scan for long (or a hypertable, whose chunks each take the check): one statement.
        sql = f"ALTER TABLE {rel} ALTER COLUMN {col} SET NOT NULL"
        return [
            ctx.step(key, "alter", sql, "ALTER TABLE ALTER COLUMN NOT NULL", relation=table, validates=True)
        ]
    check = quote_ident(f"{name.rsplit('.', 1)[1][:40]}_not_null_schemaflow")
    return [
        ctx.step(
            key,
            "alter",
            f"ALTER TABLE {rel} ADD CONSTRAINT {check} CHECK ({col} IS NOT NULL) NOT VALID",
            "ALTER TABLE ADD CHECK",
            relation=table,
        ),
        ctx.step(
            key,
            "validate",
            f"ALTER TABLE {rel} VALIDATE CONSTRAINT {check}",
            "ALTER TABLE VALIDATE CONSTRAINT",
            relation=table,
            transactional=False,
            validates=True,
        ),
        ctx.step(
            key,
            "alter",
            f"ALTER TABLE {rel} ALTER COLUMN {col} SET NOT NULL",
            "ALTER TABLE ALTER COLUMN NOT NULL",
            relation=table,
            transactional=False,
            reason="proved by the validated CHECK: no scan",
        ),
        ctx.step(
            key,
            "alter",
            f"ALTER TABLE {rel} DROP CONSTRAINT {check}",
            "ALTER TABLE DROP CONSTRAINT",
            relation=table,
            transactional=False,
        ),
    ]


def _same_shape(e: dict, a: dict, *ignored: str) -> bool:
    return all(e.get(k) == a.get(k) for k in ("type", "collation") if k not in ignored)


def _invalidates(e: dict, a: dict) -> bool:
    """A new type or collation: views, policies and rules over the column must be rebuilt around it."""
    return e["type"] != a["type"] or e.get("collation") != a.get("collation")


PLANNERS = {"column": KindPlanner(_create, _drop, _alter, _invalidates)}
