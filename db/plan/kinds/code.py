"""Functions and procedures, triggers, rules and comments."""

from __future__ import annotations

from db.plan.context import DROP, KindPlanner, PlanContext, Planned
from db.plan.quoting import function_ref, literal, qualified, quote_ident, split_child

_TRIGGER_STATE = {"O": "ENABLE", "D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}


def _create_function(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    if not e.get("definition"):
        ctx.notes.append(
            f"function {name}: an ordered-set or hypothetical-set aggregate has no definition schemaflow can "
            "copy; not planned (create it in a one-off migration)"
        )
        return []
    return [ctx.step(f"function:{name}", "create", e["definition"].strip(), "CREATE FUNCTION")]


def _drop_function(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    keyword = {"p": "PROCEDURE", "a": "AGGREGATE"}.get(a.get("kind", "f"), "FUNCTION")
    sql = f"DROP {keyword} {function_ref(name)}"
    return [ctx.step(f"function:{name}", "drop", sql, "DROP FUNCTION", phase=DROP)]


def _header(definition: str | None) -> list[str]:
    """The signature with argument names, and the RETURNS line: what CREATE OR REPLACE cannot change."""
    lines = (definition or "").splitlines()
    return [ln for ln in lines[:3] if ln.startswith(("CREATE", " RETURNS"))]


def _alter_function(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    if e.get("returns") != a.get("returns") or e.get("kind") != a.get("kind"):
        return None
    if _header(e.get("definition")) != _header(a.get("definition")):
        return None
    if not e.get("definition"):
        return None
    return [ctx.step(f"function:{name}", "replace", e["definition"].strip(), "CREATE FUNCTION")]


def _create_trigger(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    table = name.rsplit(".", 1)[0]
    key = f"trigger:{name}"
    steps = [ctx.step(key, "create", e["definition"], "CREATE TRIGGER", relation=table)]
    if e.get("enabled", "O") != "O":
        steps += _enable(name, e, ctx)
    return steps


def _enable(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    table = name.rsplit(".", 1)[0]
    rel, trg = split_child(name)
    sql = f"ALTER TABLE {rel} {_TRIGGER_STATE[e['enabled']]} TRIGGER {trg}"
    return [ctx.step(f"trigger:{name}", "alter", sql, "ALTER TABLE ENABLE TRIGGER", relation=table)]


def _drop_trigger(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    table = name.rsplit(".", 1)[0]
    rel, trg = split_child(name)
    sql = f"DROP TRIGGER {trg} ON {rel}"
    return [ctx.step(f"trigger:{name}", "drop", sql, "DROP TRIGGER", relation=table, phase=DROP)]


def _alter_trigger(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    steps = []
    if e["definition"] != a["definition"]:
        if not e["definition"].startswith("CREATE TRIGGER "):
            return None  # a constraint trigger has no OR REPLACE
        sql = e["definition"].replace("CREATE TRIGGER ", "CREATE OR REPLACE TRIGGER ", 1)
        table = name.rsplit(".", 1)[0]
        steps.append(ctx.step(f"trigger:{name}", "replace", sql, "CREATE TRIGGER", relation=table))
    if e.get("enabled") != a.get("enabled"):
        steps += _enable(name, e, ctx)
    return steps


def _create_rule(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    table = name.rsplit(".", 1)[0]
    sql = e["definition"].strip().rstrip(";")
    return [ctx.step(f"rule:{name}", "create", sql, "CREATE RULE", relation=table)]


def _drop_rule(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    table = name.rsplit(".", 1)[0]
    rel, rule = split_child(name)
    return [
        ctx.step(
            f"rule:{name}", "drop", f"DROP RULE {rule} ON {rel}", "DROP RULE", relation=table, phase=DROP
        )
    ]


def _alter_rule(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    if e["definition"] == a["definition"]:
        return []
    table = name.rsplit(".", 1)[0]
    sql = e["definition"].strip().rstrip(";").replace("CREATE RULE ", "CREATE OR REPLACE RULE ", 1)
    return [ctx.step(f"rule:{name}", "replace", sql, "CREATE RULE", relation=table)]


_COMMENT_KEYWORDS = {
    "table": "TABLE",
    "view": "VIEW",
    "matview": "MATERIALIZED VIEW",
    "cagg": "VIEW",
    "sequence": "SEQUENCE",
    "index": "INDEX",
    "column": "COLUMN",
    "function": "ROUTINE",
    "schema": "SCHEMA",
    "type": "TYPE",
    "constraint": "CONSTRAINT",
    "trigger": "TRIGGER",
    "policy": "POLICY",
    "rule": "RULE",
}
_RELATION_KINDS = ("table", "view", "matview", "cagg", "sequence", "index")


def comment_target(kind: str, obj: str) -> tuple[str, str | None]:
    """(SQL naming the object after COMMENT ON, the relation it locks)."""
    keyword = _COMMENT_KEYWORDS[kind]
    if kind in _RELATION_KINDS:
        return f"{keyword} {qualified(obj)}", obj
    if kind == "column":
        table, column = obj.rsplit(".", 1)
        return f"COLUMN {qualified(table)}.{quote_ident(column)}", table
    if kind == "function":
        return f"ROUTINE {function_ref(obj)}", None
    if kind == "schema":
        return f"SCHEMA {quote_ident(obj)}", None
    if kind == "type":
        return f"TYPE {qualified(obj)}", None
    rel, child = split_child(obj)
    return f"{keyword} {child} ON {rel}", obj.rsplit(".", 1)[0]


def _comment(name: str, text: str | None, ctx: PlanContext, action: str) -> list[Planned]:
    kind, obj = name.split(" ", 1)
    target, relation = comment_target(kind, obj)
    value = literal(text) if text is not None else "NULL"
    sql = f"COMMENT ON {target} IS {value}"
    return [ctx.step(f"comment:{name}", action, sql, "COMMENT", relation=relation)]


def _create_comment(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    return _comment(name, e["text"], ctx, "create")


def _drop_comment(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    return _comment(name, None, ctx, "drop")


def _alter_comment(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    return _comment(name, e["text"], ctx, "alter")


PLANNERS = {
    "function": KindPlanner(_create_function, _drop_function, _alter_function),
    "trigger": KindPlanner(_create_trigger, _drop_trigger, _alter_trigger),
    "rule": KindPlanner(_create_rule, _drop_rule, _alter_rule),
    "comment": KindPlanner(_create_comment, _drop_comment, _alter_comment),
}
