"""Schemas, extensions, types (enums, domains), tables and sequences."""

from __future__ import annotations

from db.plan.context import DROP, KindPlanner, PlanContext, Planned
from db.plan.kinds.columns import column_sql
from db.plan.locks import LIGHT_STORAGE_PARAMETERS
from db.plan.quoting import literal, qualified, quote_ident


def _create_schema(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"CREATE SCHEMA IF NOT EXISTS {quote_ident(name)}"
    return [ctx.step(f"schema:{name}", "create", sql, "CREATE SCHEMA")]


def _drop_schema(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    # Everything in it is dropped by its own steps first (the graph orders them), so no CASCADE.
    sql = f"DROP SCHEMA {quote_ident(name)}"
    return [ctx.step(f"schema:{name}", "drop", sql, "DROP SCHEMA", phase=DROP)]


def _alter_schema(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    return []  # the owner is planned by its grant entry ("schema NAME")


def _create_extension(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    sql = (
        f"CREATE EXTENSION IF NOT EXISTS {quote_ident(name)} WITH SCHEMA {quote_ident(e['schema'])} "
        f"VERSION {literal(e['version'])}"
    )
    return [ctx.step(f"extension:{name}", "create", sql, "CREATE EXTENSION")]


def _drop_extension(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"DROP EXTENSION {quote_ident(name)}"
    # Never silent: dropping TimescaleDB takes every hypertable's chunks with it, and a plan that
    # wants it gone more often means the expected side was built in another mode than the target's.
    return [
        ctx.step(
            f"extension:{name}", "drop", sql, "DROP EXTENSION", phase=DROP, destroys=True,
            reason="drops the extension and everything built on it",
        )
    ]  # fmt: skip


def _alter_extension(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    steps = []
    if e["version"] != a["version"]:
        sql = f"ALTER EXTENSION {quote_ident(name)} UPDATE TO {literal(e['version'])}"
        steps.append(ctx.step(f"extension:{name}", "alter", sql, "ALTER EXTENSION"))
    if e["schema"] != a["schema"]:
        sql = f"ALTER EXTENSION {quote_ident(name)} SET SCHEMA {quote_ident(e['schema'])}"
        steps.append(ctx.step(f"extension:{name}", "alter", sql, "ALTER EXTENSION"))
    return steps


def _domain_sql(name: str, e: dict) -> str:
    parts = [f"CREATE DOMAIN {qualified(name)} AS {e['base_type']}"]
    if e.get("default") is not None:
        parts.append(f"DEFAULT {e['default']}")
    if e.get("not_null"):
        parts.append("NOT NULL")
    for con, check in zip(e.get("check_names") or [], e.get("checks") or [], strict=False):
        parts.append(f"CONSTRAINT {quote_ident(con)} {check}")
    return " ".join(parts)


def _create_type(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    if e["type"] == "enum":
        labels = ", ".join(literal(lbl) for lbl in e["labels"] or [])
        sql = f"CREATE TYPE {qualified(name)} AS ENUM ({labels})"
    elif e["type"] == "composite":
        sql = f"CREATE TYPE {qualified(name)} AS ({', '.join(e.get('attributes') or [])})"
    else:
        sql = _domain_sql(name, e)
    return [ctx.step(f"type:{name}", "create", sql, "CREATE TYPE")]


def _drop_type(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    keyword = "DOMAIN" if a["type"] == "domain" else "TYPE"
    return [ctx.step(f"type:{name}", "drop", f"DROP {keyword} {qualified(name)}", "DROP TYPE", phase=DROP)]


def _alter_type(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    key, rel = f"type:{name}", qualified(name)
    if e["type"] != a["type"]:
        return None
    if e["type"] == "enum":
        new, old = e["labels"] or [], a["labels"] or []
        if [lbl for lbl in new if lbl in old] != old:
            return _rebuild_enum(name, e, ctx)  # a label removed or moved: values cannot leave in place
        steps = []
        for i, label in enumerate(new):
            if label in old:
                continue
            following = next((lbl for lbl in new[i + 1 :] if lbl in old), None)
            place = (
                f" BEFORE {literal(following)}" if following else f" AFTER {literal(new[i - 1])}" if i else ""
            )
            sql = f"ALTER TYPE {rel} ADD VALUE IF NOT EXISTS {literal(label)}{place}"
            steps.append(ctx.step(key, "alter", sql, "ALTER TYPE ADD VALUE"))
        return steps
    if e["type"] == "composite":
        return _alter_composite(name, e, a, ctx)
    if e["base_type"] != a["base_type"]:
        return None
    steps = []
    if e.get("default") != a.get("default"):
        verb = f"SET DEFAULT {e['default']}" if e.get("default") is not None else "DROP DEFAULT"
        steps.append(ctx.step(key, "alter", f"ALTER DOMAIN {rel} {verb}", "ALTER DOMAIN"))
    if e["not_null"] != a["not_null"]:
        verb = "SET" if e["not_null"] else "DROP"
        steps.append(ctx.step(key, "alter", f"ALTER DOMAIN {rel} {verb} NOT NULL", "ALTER DOMAIN"))
    want = dict(zip(e.get("check_names") or [], e.get("checks") or [], strict=False))
    have = dict(zip(a.get("check_names") or [], a.get("checks") or [], strict=False))
    for con in sorted(have):
        if want.get(con) != have[con]:
            sql = f"ALTER DOMAIN {rel} DROP CONSTRAINT {quote_ident(con)}"
            steps.append(ctx.step(key, "alter", sql, "ALTER DOMAIN"))
    for con in sorted(want):
        if have.get(con) != want[con]:
            sql = f"ALTER DOMAIN {rel} ADD CONSTRAINT {quote_ident(con)} {want[con]}"
            steps.append(ctx.step(key, "alter", sql, "ALTER DOMAIN", validates=True))
    return steps


def _alter_composite(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    """ALTER TYPE ... ADD / DROP / ALTER ATTRIBUTE in place. Values in columns of the type keep their
    other attributes; a dropped attribute's values are gone (destroys_data)."""
    want = dict(attr.split(" ", 1) for attr in e.get("attributes") or [])
    have = dict(attr.split(" ", 1) for attr in a.get("attributes") or [])
    actions = [f"DROP ATTRIBUTE {attr}" for attr in have if attr not in want]
    actions += [
        f"ALTER ATTRIBUTE {attr} TYPE {want[attr]}"
        for attr in have
        if attr in want and want[attr] != have[attr]
    ]
    actions += [f"ADD ATTRIBUTE {attr} {want[attr]}" for attr in want if attr not in have]
    if not actions:
        return []
    sql = f"ALTER TYPE {qualified(name)} {', '.join(actions)} CASCADE"
    dropping = any(action.startswith("DROP ATTRIBUTE") for action in actions)
    return [ctx.step(f"type:{name}", "alter", sql, "ALTER TYPE ATTRIBUTE", destroys=dropping)]


def _rebuild_enum(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    """Rename the old type away, create the new one, convert each column through text, drop the old."""
    key, rel = f"type:{name}", qualified(name)
    schema, bare = name.split(".", 1)
    old_name = f"{bare}__schemaflow_old"
    labels = ", ".join(literal(lbl) for lbl in e["labels"] or [])
    steps = [
        ctx.step(key, "alter", f"ALTER TYPE {rel} RENAME TO {quote_ident(old_name)}", "ALTER TYPE RENAME"),
        ctx.step(key, "create", f"CREATE TYPE {rel} AS ENUM ({labels})", "CREATE TYPE"),
    ]
    for col_name, col in ctx.actual["column"].items():
        if key not in col.get("depends_on", ()) or col_name not in ctx.expected["column"]:
            continue
        table, column = col_name.rsplit(".", 1)
        target, c = qualified(table), quote_ident(column)
        parts = []
        if col.get("default") is not None:
            parts.append(f"ALTER COLUMN {c} DROP DEFAULT")
        parts.append(f"ALTER COLUMN {c} TYPE {rel} USING {c}::text::{rel}")
        want_default = ctx.expected["column"][col_name].get("default")
        if want_default is not None:
            parts.append(f"ALTER COLUMN {c} SET DEFAULT {want_default}")
        sql = f"ALTER TABLE {target} " + ", ".join(parts)
        steps.append(
            ctx.step(key, "alter", sql, "ALTER TABLE ALTER COLUMN TYPE", relation=table, rewrites=True)
        )
    drop = f"DROP TYPE {quote_ident(schema)}.{quote_ident(old_name)}"
    steps.append(ctx.step(key, "alter", drop, "DROP TYPE", reason="the old enum, now unused"))
    return steps


def _options(options: list[str] | None) -> dict[str, str]:
    return dict(o.split("=", 1) for o in options or [])


def _create_table(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    key = f"table:{name}"
    unlogged = "UNLOGGED " if e.get("persistence") == "u" else ""
    columns = [(n, c) for n, c in ctx.children(ctx.expected, "column", key) if c.get("local", True)]
    requires = tuple(d for _, c in columns for d in c.get("depends_on", ()))
    requires += tuple(f"table:{p}" for p in e.get("inherits") or [])
    if e.get("partition_bound"):
        parent = qualified(e["inherits"][0])
        body = f" PARTITION OF {parent} {e['partition_bound']}"
    else:
        cols = ",\n    ".join(column_sql(n.rsplit(".", 1)[1], c) for n, c in columns)
        body = f" (\n    {cols}\n)" if cols else " ()"
        if e.get("inherits"):
            body += " INHERITS (" + ", ".join(qualified(p) for p in e["inherits"]) + ")"
    if e.get("partition_key"):
        body += f" PARTITION BY {e['partition_key']}"
    if e.get("options"):
        body += " WITH (" + ", ".join(e["options"]) + ")"
    sql = f"CREATE {unlogged}TABLE {qualified(name)}{body}"
    return [ctx.step(key, "create", sql, "CREATE TABLE", requires=requires)]


def _drop_table(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"DROP TABLE {qualified(name)}"
    return [ctx.step(f"table:{name}", "drop", sql, "DROP TABLE", relation=name, phase=DROP, destroys=True)]


def _alter_table(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    key, rel = f"table:{name}", qualified(name)
    if e["relkind"] != a["relkind"] or e.get("partition_key") != a.get("partition_key"):
        return None
    steps = []
    if e["persistence"] != a["persistence"]:
        mode = "UNLOGGED" if e["persistence"] == "u" else "LOGGED"
        sql = f"ALTER TABLE {rel} SET {mode}"
        steps.append(ctx.step(key, "alter", sql, "ALTER TABLE SET LOGGED", relation=name, rewrites=True))
    want, have = _options(e.get("options")), _options(a.get("options"))
    changed = sorted(k for k in want if have.get(k) != want[k])
    removed = sorted(k for k in have if k not in want)
    for keys, verb in ((changed, "SET"), (removed, "RESET")):
        if not keys:
            continue
        light = all(k.startswith(LIGHT_STORAGE_PARAMETERS) for k in keys)
        statement = "ALTER TABLE SET storage parameter" if light else "ALTER TABLE SET other parameter"
        body = ", ".join(f"{k}={want[k]}" if verb == "SET" else k for k in keys)
        steps.append(ctx.step(key, "alter", f"ALTER TABLE {rel} {verb} ({body})", statement, relation=name))
    if e.get("partition_bound") != a.get("partition_bound") or e.get("inherits") != a.get("inherits"):
        steps += _reparent(name, e, a, ctx)
    if e.get("replica_identity") != a.get("replica_identity"):
        steps.append(_replica_identity(name, e, ctx))
    return steps


_REPLICA_IDENTITY = {"d": "DEFAULT", "n": "NOTHING", "f": "FULL"}


def _replica_identity(name: str, e: dict, ctx: PlanContext) -> Planned:
    mode, _, index = (e.get("replica_identity") or "d").partition(" ")
    what = f"USING INDEX {quote_ident(index)}" if mode == "i" else _REPLICA_IDENTITY[mode]
    sql = f"ALTER TABLE {qualified(name)} REPLICA IDENTITY {what}"
    requires = (f"index:{name.split('.', 1)[0]}.{index}",) if mode == "i" else ()
    return ctx.step(
        f"table:{name}", "alter", sql, "ALTER TABLE REPLICA IDENTITY", relation=name, requires=requires
    )


def _create_publication(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    tables = "ALL TABLES" if e.get("all_tables") else "TABLE " + ", ".join(qualified(t) for t in e["tables"])
    target = f" FOR {tables}" if e.get("all_tables") or e.get("tables") else ""
    sql = (
        f"CREATE PUBLICATION {quote_ident(name)}{target} WITH (publish = {literal(', '.join(e['publish']))})"
    )
    requires = tuple(f"table:{t}" for t in e.get("tables") or ())
    return [ctx.step(f"publication:{name}", "create", sql, "CREATE PUBLICATION", requires=requires)]


def _drop_publication(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"DROP PUBLICATION {quote_ident(name)}"
    return [ctx.step(f"publication:{name}", "drop", sql, "CREATE PUBLICATION", phase=DROP)]


def _alter_publication(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    if e.get("all_tables") != a.get("all_tables"):
        return None
    steps, key, pub = [], f"publication:{name}", quote_ident(name)
    if e.get("tables") != a.get("tables") and not e.get("all_tables"):
        listed = ", ".join(qualified(t) for t in e["tables"])
        sql = f"ALTER PUBLICATION {pub} SET TABLE {listed}" if listed else None
        if sql is None:  # SET TABLE takes at least one table: drop what is there instead
            sql = f"ALTER PUBLICATION {pub} DROP TABLE " + ", ".join(qualified(t) for t in a["tables"])
        requires = tuple(f"table:{t}" for t in e["tables"])
        steps.append(ctx.step(key, "alter", sql, "CREATE PUBLICATION", requires=requires))
    if e.get("publish") != a.get("publish"):
        sql = f"ALTER PUBLICATION {pub} SET (publish = {literal(', '.join(e['publish']))})"
        steps.append(ctx.step(key, "alter", sql, "CREATE PUBLICATION"))
    return steps


def _reparent(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    key, rel, steps = f"table:{name}", qualified(name), []
    for parent in a.get("inherits") or []:
        if a.get("partition_bound"):
            sql, statement = (
                f"ALTER TABLE {qualified(parent)} DETACH PARTITION {rel}",
                "ALTER TABLE DETACH PARTITION",
            )
            steps.append(ctx.step(key, "alter", sql, statement, relation=parent))
        elif parent not in (e.get("inherits") or []) or e.get("partition_bound"):
            sql = f"ALTER TABLE {rel} NO INHERIT {qualified(parent)}"
            steps.append(ctx.step(key, "alter", sql, "ALTER TABLE INHERIT", relation=name))
    for parent in e.get("inherits") or []:
        if e.get("partition_bound"):
            sql = f"ALTER TABLE {qualified(parent)} ATTACH PARTITION {rel} {e['partition_bound']}"
            steps.append(
                ctx.step(
                    key,
                    "alter",
                    sql,
                    "ALTER TABLE ATTACH PARTITION",
                    relation=parent,
                    validates=True,
                    requires=(f"table:{parent}",),
                )
            )
        elif parent not in (a.get("inherits") or []) or a.get("partition_bound"):
            sql = f"ALTER TABLE {rel} INHERIT {qualified(parent)}"
            steps.append(ctx.step(key, "alter", sql, "ALTER TABLE INHERIT", relation=name))
    return steps


def _sequence_options(e: dict) -> str:
    cycle = "CYCLE" if e["cycle"] else "NO CYCLE"
    return (
        f"AS {e['type']} INCREMENT BY {e['increment']} MINVALUE {e['min']} MAXVALUE {e['max']} "
        f"START WITH {e.get('start') or e['min']} CACHE {e['cache']} {cycle}"
    )


def _owned_by(name: str, e: dict, ctx: PlanContext) -> Planned:
    owner = e.get("owned_by")
    target = "NONE"
    requires: tuple[str, ...] = ()
    if owner:
        table, column = owner.rsplit(".", 1)
        target, requires = f"{qualified(table)}.{quote_ident(column)}", (f"column:{owner}",)
    sql = f"ALTER SEQUENCE {qualified(name)} OWNED BY {target}"
    return ctx.step(f"sequence:{name}", "alter", sql, "ALTER SEQUENCE", relation=name, requires=requires)


def _create_sequence(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"CREATE SEQUENCE IF NOT EXISTS {qualified(name)} {_sequence_options(e)}"
    steps = [ctx.step(f"sequence:{name}", "create", sql, "CREATE SEQUENCE")]
    if e.get("owned_by"):
        steps.append(_owned_by(name, e, ctx))
    return steps


def _drop_sequence(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"DROP SEQUENCE {qualified(name)}"
    return [ctx.step(f"sequence:{name}", "drop", sql, "DROP SEQUENCE", relation=name, phase=DROP)]


def _alter_sequence(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    steps = []
    if any(e.get(k) != a.get(k) for k in ("type", "increment", "min", "max", "cycle", "cache", "start")):
        sql = f"ALTER SEQUENCE {qualified(name)} {_sequence_options(e)}"
        steps.append(ctx.step(f"sequence:{name}", "alter", sql, "ALTER SEQUENCE", relation=name))
    if e.get("owned_by") != a.get("owned_by"):
        steps.append(_owned_by(name, e, ctx))
    return steps


def _enum_invalidates(e: dict, a: dict) -> bool:
    old = a.get("labels") or []
    return e.get("type") == "enum" and [lbl for lbl in e.get("labels") or [] if lbl in old] != old


PLANNERS = {
    "schema": KindPlanner(_create_schema, _drop_schema, _alter_schema),
    "extension": KindPlanner(_create_extension, _drop_extension, _alter_extension),
    "type": KindPlanner(_create_type, _drop_type, _alter_type, _enum_invalidates),
    "table": KindPlanner(_create_table, _drop_table, _alter_table),
    "sequence": KindPlanner(_create_sequence, _drop_sequence, _alter_sequence),
    "publication": KindPlanner(_create_publication, _drop_publication, _alter_publication),
}
