"""Severity and suggested SQL for one catalog difference: what a reviewer would run by hand.

Nothing here executes SQL. Missing objects point at re-running migrate first and then give the
CREATE taken from the expected side (pg_get_indexdef, pg_get_constraintdef, view definitions, ...);
unexpected and changed objects get the DROP/ALTER/CREATE that would bring the database back to the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from psycopg import sql

RERUN = "-- re-run migrate (schemaflow migrate --env ENV) to create it; by hand:"
_SIMPLE_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")
# PostgreSQL's reserved, type/function-name and column-name keywords (kwlist.h of 15, plus 16 and 17's
# additions): each is rejected unquoted as a table, type or function name. Unreserved keywords
# (name, version, ...) are valid identifiers everywhere, so they stay unquoted and readable.
# fmt: off
_KEYWORDS = frozenset((
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization",
    "between", "bigint", "binary", "bit", "boolean", "both", "case", "cast", "char", "character", "check",
    "coalesce", "collate", "collation", "column", "concurrently", "constraint", "create", "cross",
    "current_catalog", "current_date", "current_role", "current_schema", "current_time",
    "current_timestamp", "current_user", "dec", "decimal", "default", "deferrable", "desc", "distinct",
    "do", "else", "end", "except", "exists", "extract", "false", "fetch", "float", "for", "foreign",
    "freeze", "from", "full", "grant", "greatest", "group", "grouping", "having", "ilike", "in",
    "initially", "inner", "inout", "int", "integer", "intersect", "interval", "into", "is", "isnull",
    "join", "json", "json_array", "json_arrayagg", "json_exists", "json_object", "json_objectagg",
    "json_query", "json_scalar", "json_serialize", "json_table", "json_value", "lateral", "leading",
    "least", "left", "like", "limit", "localtime", "localtimestamp", "merge_action", "national", "natural",
    "nchar", "none", "normalize", "not", "notnull", "null", "nullif", "numeric", "offset", "on", "only",
    "or", "order", "out", "outer", "overlaps", "overlay", "placing", "position", "precision", "primary",
    "real", "references", "returning", "right", "row", "select", "session_user", "setof", "similar",
    "smallint", "some", "substring", "symmetric", "system_user", "table", "tablesample", "then", "time",
    "timestamp", "to", "trailing", "treat", "trim", "true", "union", "unique", "user", "using", "values",
    "varchar", "variadic", "verbose", "when", "where", "window", "with", "xmlattributes", "xmlconcat",
    "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot", "xmlserialize",
    "xmltable",
))
# fmt: on
# Characters that end a `--` comment (PostgreSQL and psql treat \r and \n as line ends) or that a
# terminal would interpret; object names may contain any of them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# grantee=privileges/grantor, the grantee quoted when it needs to be (and empty for PUBLIC).
_ACL_ITEM = re.compile(r'^("(?:[^"]|"")*"|[^=]*)=([^/]*)')
# aclitem letters (PostgreSQL docs, "Privileges") and the keyword each stands for.
_PRIVILEGES = {
    "r": "SELECT",
    "a": "INSERT",
    "w": "UPDATE",
    "d": "DELETE",
    "D": "TRUNCATE",
    "x": "REFERENCES",
    "t": "TRIGGER",
    "X": "EXECUTE",
    "U": "USAGE",
    "C": "CREATE",
    "c": "CONNECT",
    "T": "TEMPORARY",
    "m": "MAINTAIN",
}
_OBJECT_KEYWORDS = {
    "table": "TABLE",
    "view": "VIEW",
    "matview": "MATERIALIZED VIEW",
    "cagg": "MATERIALIZED VIEW",
    "sequence": "SEQUENCE",
    "function": "FUNCTION",
    "schema": "SCHEMA",
}
_HIGH_KINDS = {"table", "column", "constraint", "rls", "policy", "hypertable", "grant"}
_REMOVE_POLICY = {
    "policy_refresh_continuous_aggregate": "remove_continuous_aggregate_policy",
    "policy_compression": "remove_compression_policy",
    "policy_retention": "remove_retention_policy",
    "policy_reorder": "remove_reorder_policy",
}


def severity_of(kind: str, status: str, expected: dict | None, actual: dict | None) -> str:
    """'high' when correctness or tenant isolation is at risk, 'medium' for performance, else 'low'."""
    if kind in ("rls", "policy", "grant") or (kind == "constraint" and status != "unexpected"):
        return "high"
    if status == "unexpected":
        return "low" if kind not in ("trigger", "job") else "medium"
    if kind in _HIGH_KINDS:
        if kind == "column" and status == "changed" and expected and actual:
            shape = ("type", "not_null", "identity", "generated")
            return "high" if any(expected.get(k) != actual.get(k) for k in shape) else "medium"
        return "high"
    return "medium"


def suggest(
    kind: str, name: str, status: str, expected: dict | None, actual: dict | None, snapshot: dict
) -> str:
    """The SQL (with a leading comment where judgement is needed) that reconciles one difference."""
    render = _RENDERERS.get(kind)
    text = render(name, status, expected or {}, actual or {}, snapshot) if render else None
    if text is None:
        return RERUN if status == "missing" else one_line(f"-- review {kind} {name} by hand")
    return text


def quote_ident(name: str) -> str:
    """Quote an identifier only when PostgreSQL needs it (psycopg does the quoting and escaping)."""
    if _SIMPLE_IDENT.match(name) and name not in _KEYWORDS:
        return name
    return sql.Identifier(name).as_string(None)


def one_line(text: str) -> str:
    """`text` safe inside a `--` comment: control characters (newlines first) shown as escapes.

    A crafted object name could otherwise end the comment and put its own statement into the
    script a reviewer runs.
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _q(name: str, parts: int = 2) -> tuple[str, ...]:
    """Split 'schema.table[.child]' into quoted parts: ('schema.table', 'child')."""
    pieces = name.split(".", parts - 1)
    rel = ".".join(quote_ident(p) for p in pieces[:2])
    return (rel, *(quote_ident(p) for p in pieces[2:]))


def _split_child(name: str) -> tuple[str, str]:
    schema, table, child = name.split(".", 2)
    return f"{quote_ident(schema)}.{quote_ident(table)}", quote_ident(child)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _regclass(name: str) -> str:
    """'schema.table' as a regclass literal: quoted inside, since regclass input folds case."""
    return _literal(_q(name)[0])


def _function_ref(name: str) -> str:
    """'schema.fname(args)' with schema and name quoted; the arguments are PostgreSQL's own text."""
    schema, rest = name.split(".", 1)
    fname, args = rest.split("(", 1)
    return f"{quote_ident(schema)}.{quote_ident(fname)}({args}"


def _suggest_schema(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    if status == "missing":
        return f"{RERUN}\nCREATE SCHEMA IF NOT EXISTS {quote_ident(name)};"
    if status == "unexpected":
        return f"DROP SCHEMA {quote_ident(name)};  -- fails if it still holds objects; review them first"
    return f"ALTER SCHEMA {quote_ident(name)} OWNER TO {quote_ident(e['owner'])};"


def _suggest_extension(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    if status == "missing":
        return (
            f"{RERUN}\nCREATE EXTENSION IF NOT EXISTS {quote_ident(name)} SCHEMA {quote_ident(e['schema'])};"
        )
    if status == "unexpected":
        return f"DROP EXTENSION {quote_ident(name)};  -- only if nothing uses it"
    note = (
        "  -- timescaledb: run as the first command of a fresh session (psql -X)"
        if name == "timescaledb"
        else ""
    )
    return f"ALTER EXTENSION {quote_ident(name)} UPDATE TO {_literal(e['version'])};{note}"


def _suggest_type(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    if status == "unexpected":
        return f"DROP TYPE {rel};"
    if e.get("type") == "enum":
        if status == "changed":
            added = [lbl for lbl in e["labels"] or [] if lbl not in (a.get("labels") or [])]
            if added and len(e["labels"]) == len(a.get("labels") or []) + len(added):
                return "\n".join(
                    f"ALTER TYPE {rel} ADD VALUE IF NOT EXISTS {_literal(lbl)};" for lbl in added
                )
            return one_line(
                f"-- enum labels differ; values cannot be removed in place: rebuild {rel} by hand"
            )
        labels = ", ".join(_literal(lbl) for lbl in e["labels"] or [])
        return f"{RERUN}\nCREATE TYPE {rel} AS ENUM ({labels});"
    checks = " ".join(e.get("checks") or [])
    not_null = " NOT NULL" if e.get("not_null") else ""
    create = f"CREATE DOMAIN {rel} AS {e['base_type']}{not_null} {checks};".replace(" ;", ";")
    return (
        f"{RERUN}\n{create}"
        if status == "missing"
        else f"-- domain differs; by hand:\nDROP DOMAIN {rel};\n{create}"
    )


def _column_sql(col: str, entry: dict) -> str:
    parts = [quote_ident(col), entry["type"]]
    if entry.get("collation"):
        parts.append(f"COLLATE {quote_ident(entry['collation'])}")
    if entry.get("generated"):
        parts.append(f"GENERATED ALWAYS AS ({entry['generated']}) STORED")
    elif entry.get("identity"):
        parts.append(
            "GENERATED ALWAYS AS IDENTITY" if entry["identity"] == "a" else "GENERATED BY DEFAULT AS IDENTITY"
        )
    elif entry.get("default") is not None:
        parts.append(f"DEFAULT {entry['default']}")
    if entry.get("not_null") and not entry.get("identity"):
        parts.append("NOT NULL")
    return " ".join(parts)


def _children(snap: dict, kind: str, parent: str) -> list[tuple[str, dict]]:
    return [(n, v) for n, v in snap.get(kind, {}).items() if v.get("parent") == parent]


def _suggest_table(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    if status == "unexpected":
        return f"DROP TABLE {rel};  -- review first: this drops its rows"
    if status == "changed":
        return one_line(f"-- table storage differs ({e} vs {a}); review ALTER TABLE {rel} SET (...) by hand")
    lines = [
        f"  {_column_sql(n.rsplit('.', 1)[1], c)}" for n, c in _children(snap, "column", f"table:{name}")
    ]
    lines += [
        f"  CONSTRAINT {quote_ident(n.rsplit('.', 1)[1])} {c['definition']}"
        for n, c in _children(snap, "constraint", f"table:{name}")
        if c["type"] != "f"
    ]
    body = ",\n".join(lines)
    return f"{RERUN}\nCREATE TABLE {rel} (\n{body}\n);  -- then its foreign keys, indexes, RLS and policies"


def _suggest_column(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    rel, col = _split_child(name)
    if status == "missing":
        return (
            f"{RERUN}\nALTER TABLE {rel} ADD COLUMN IF NOT EXISTS {_column_sql(name.rsplit('.', 1)[1], e)};"
        )
    if status == "unexpected":
        return f"ALTER TABLE {rel} DROP COLUMN {col};  -- review first: this drops its data"
    steps = []
    if e["type"] != a["type"]:
        steps.append(f"ALTER COLUMN {col} TYPE {e['type']} USING {col}::{e['type']}")
    if e["default"] != a["default"]:
        steps.append(
            f"ALTER COLUMN {col} " + (f"SET DEFAULT {e['default']}" if e["default"] else "DROP DEFAULT")
        )
    if e["not_null"] != a["not_null"]:
        steps.append(f"ALTER COLUMN {col} {'SET' if e['not_null'] else 'DROP'} NOT NULL")
    if e["identity"] != a["identity"]:
        steps.append(
            f"ALTER COLUMN {col} DROP IDENTITY IF EXISTS"
            if not e["identity"]
            else f"ALTER COLUMN {col} ADD {_column_sql('x', e).split(' ', 2)[2]}"
        )
    if not steps:
        differs = ", ".join(k for k in e if e[k] != a.get(k))
        return one_line(f"-- column {name} differs in {differs}; review by hand")
    return f"ALTER TABLE {rel}\n  " + ",\n  ".join(steps) + ";"


def _suggest_constraint(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    rel, con = _split_child(name)
    add = f"ALTER TABLE {rel} ADD CONSTRAINT {con} {e.get('definition')};"
    if status == "missing":
        return f"{RERUN}\n{add}"
    drop = f"ALTER TABLE {rel} DROP CONSTRAINT {con};"
    if status == "unexpected":
        return drop
    same = e["definition"].replace(" NOT VALID", "") == a["definition"].replace(" NOT VALID", "")
    if same and e["validated"] and not a["validated"]:
        return f"ALTER TABLE {rel} VALIDATE CONSTRAINT {con};  -- fails if existing rows violate it"
    return f"BEGIN;\n{drop}\n{add}\nCOMMIT;"


def _suggest_index(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    if status == "missing":
        return f"{RERUN}\n{e['definition']};"
    if status == "unexpected":
        return f"DROP INDEX CONCURRENTLY {rel};"
    if e["definition"] == a["definition"] and not a["valid"]:
        return f"REINDEX INDEX CONCURRENTLY {rel};  -- a failed concurrent build left it INVALID"
    return f"DROP INDEX CONCURRENTLY {rel};\n{e['definition']};"


def _suggest_view(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    if status == "unexpected":
        return f"DROP VIEW {rel};"
    options = f" WITH ({', '.join(e['options'])})" if e.get("options") else ""
    create = f"CREATE OR REPLACE VIEW {rel}{options} AS\n{e['definition']}"
    if status == "missing":
        return f"{RERUN}\n{create}"
    return f"{create}\n" + one_line(f"-- if its columns changed: DROP VIEW {rel}; then re-run migrate")


def _suggest_matview(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    drop = f"DROP MATERIALIZED VIEW {rel};"
    if status == "unexpected":
        return drop
    create = f"CREATE MATERIALIZED VIEW {rel} AS\n{e['definition'].rstrip(';')}\nWITH NO DATA;"
    tail = "-- then re-run migrate: it recreates the indexes and refreshes the view"
    if status == "missing":
        return f"{RERUN}\n{create}\n{tail}"
    return f"{drop}\n{create}\n{tail}"


def _suggest_cagg(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    if status == "unexpected":
        return f"DROP MATERIALIZED VIEW {rel};"
    if status == "changed" and e["definition"] == a["definition"]:
        flag = "true" if e["materialized_only"] else "false"
        return f"ALTER MATERIALIZED VIEW {rel} SET (timescaledb.materialized_only = {flag});"
    if status == "changed":
        return f"DROP MATERIALIZED VIEW {rel};\n-- then re-run migrate: it recreates the continuous aggregate"
    return None


def _suggest_function(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    if status == "unexpected":
        keyword = "PROCEDURE" if a.get("kind") == "p" else "FUNCTION"
        return f"DROP {keyword} {_function_ref(name)};"
    if e.get("definition"):
        return (RERUN + "\n" if status == "missing" else "") + e["definition"].rstrip() + ";"
    return None


def _suggest_trigger(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    rel, trg = _split_child(name)
    if status == "unexpected":
        return f"DROP TRIGGER {trg} ON {rel};"
    if status == "changed" and e["definition"] == a["definition"]:
        state = {"O": "ENABLE", "D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}[e["enabled"]]
        return f"ALTER TABLE {rel} {state} TRIGGER {trg};"
    create = e["definition"].replace("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER", 1) + ";"
    return f"{RERUN}\n{create}" if status == "missing" else create


def _suggest_sequence(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    if status == "unexpected":
        return f"DROP SEQUENCE {rel};"
    opts = (
        f"AS {e['type']} INCREMENT BY {e['increment']} MINVALUE {e['min']} MAXVALUE {e['max']} "
        f"CACHE {e['cache']} {'CYCLE' if e['cycle'] else 'NO CYCLE'}"
    )
    if status == "missing":
        return f"{RERUN}\nCREATE SEQUENCE IF NOT EXISTS {rel} {opts};"
    return f"ALTER SEQUENCE {rel} {opts};"


def _suggest_rls(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    steps = []
    if e.get("enabled") != a.get("enabled"):
        steps.append(f"ALTER TABLE {rel} {'ENABLE' if e.get('enabled') else 'DISABLE'} ROW LEVEL SECURITY;")
    if e.get("forced") != a.get("forced"):
        steps.append(f"ALTER TABLE {rel} {'FORCE' if e.get('forced') else 'NO FORCE'} ROW LEVEL SECURITY;")
    return "\n".join(steps) or None


def _suggest_policy(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    rel, pol = _split_child(name)
    drop = f"DROP POLICY IF EXISTS {pol} ON {rel};"
    if status == "unexpected":
        return drop
    roles = ", ".join(r if r == "public" else quote_ident(r) for r in e["roles"])
    create = f"CREATE POLICY {pol} ON {rel} AS {e['permissive']} FOR {e['cmd']} TO {roles}"
    if e.get("using"):
        create += f"\n  USING ({e['using']})"
    if e.get("with_check"):
        create += f"\n  WITH CHECK ({e['with_check']})"
    if status == "missing":
        return f"{RERUN}\n{create};"
    return f"BEGIN;\n{drop}\n{create};\nCOMMIT;"


def _acl_map(items: list[str] | None) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for item in items or []:
        match = _ACL_ITEM.match(item)
        if not match:
            continue
        grantee, privs = match.group(1), match.group(2).replace("*", "")
        if grantee.startswith('"'):  # aclitem quotes a name the way SQL does; quote_ident re-quotes it
            grantee = grantee[1:-1].replace('""', '"')
        result[grantee or "PUBLIC"] = {_PRIVILEGES.get(ch, ch) for ch in privs}
    return result


def _suggest_grant(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    kind, obj = name.split(" ", 1)
    keyword = _OBJECT_KEYWORDS.get(kind, kind.upper())
    target = (
        quote_ident(obj) if kind == "schema" else _function_ref(obj) if kind == "function" else _q(obj)[0]
    )
    steps = []
    if e.get("owner") != a.get("owner"):
        steps.append(f"ALTER {keyword} {target} OWNER TO {quote_ident(e['owner'])};")
    grant_kw = {"view": "TABLE", "matview": "TABLE", "cagg": "TABLE"}.get(kind, keyword)
    exp, act = _acl_map(e.get("privileges")), _acl_map(a.get("privileges"))
    if e.get("privileges") is None or a.get("privileges") is None:  # NULL acl: the owner's defaults
        exp.pop(e.get("owner", ""), None)
        act.pop(a.get("owner", ""), None)
    for grantee in sorted(exp.keys() | act.keys()):
        who = grantee if grantee == "PUBLIC" else quote_ident(grantee)
        extra, lacking = (
            act.get(grantee, set()) - exp.get(grantee, set()),
            exp.get(grantee, set()) - act.get(grantee, set()),
        )
        if extra:
            steps.append(f"REVOKE {', '.join(sorted(extra))} ON {grant_kw} {target} FROM {who};")
        if lacking:
            steps.append(f"GRANT {', '.join(sorted(lacking))} ON {grant_kw} {target} TO {who};")
    return "\n".join(steps) or None


def _suggest_hypertable(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    (rel,) = _q(name)
    if status == "unexpected":
        return "\n".join(
            one_line(line)
            for line in (
                f"-- {rel} is a hypertable the file does not expect; it cannot be turned back in place:",
                f"-- create a plain copy (CREATE TABLE ... (LIKE {rel} INCLUDING ALL)), copy the rows,",
                "-- swap the names",
            )
        )
    if status == "changed":
        flag = "true" if e.get("compression_enabled") else "false"
        return f"ALTER TABLE {rel} SET (timescaledb.compress = {flag});"
    dims = sorted(_children(snap, "dimension", f"hypertable:{name}"), key=lambda d: d[1]["dimension_number"])
    if not dims:
        return None
    col, dim = dims[0][0].rsplit(".", 1)[1], dims[0][1]
    interval = (
        f"INTERVAL {_literal(dim['time_interval'])}"
        if dim.get("time_interval")
        else str(dim["integer_interval"])
    )
    return (
        f"{RERUN}\nSELECT create_hypertable({_regclass(name)}, {_literal(col)},\n"
        f"    chunk_time_interval => {interval}, if_not_exists => TRUE, migrate_data => TRUE);\n"
        f"-- migrate_data rewrites the table under a lock: plan a maintenance window"
    )


def _suggest_dimension(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    table, col = name.rsplit(".", 1)
    if status == "changed" and e.get("time_interval") != a.get("time_interval") and e.get("time_interval"):
        return (
            f"SELECT set_chunk_time_interval({_regclass(table)}, INTERVAL {_literal(e['time_interval'])});"
            "  -- applies to new chunks only"
        )
    if status == "changed" and e.get("integer_interval") != a.get("integer_interval"):
        interval = e["integer_interval"]
        return f"SELECT set_chunk_time_interval({_regclass(table)}, {interval});  -- new chunks only"
    if status == "missing" and e.get("num_partitions"):
        return f"SELECT add_dimension({_regclass(table)}, by_hash({_literal(col)}, {e['num_partitions']}));"
    return None


def _suggest_job(name: str, status: str, e: dict, a: dict, snap: dict) -> str | None:
    target, proc = name.rsplit(".", 1)
    if status == "unexpected":
        remove = _REMOVE_POLICY.get(proc)
        return (
            f"SELECT {remove}({_regclass(target)});"
            if remove
            else one_line(f"-- remove job {proc} on {target} by hand")
        )
    if status == "changed":
        remove = _REMOVE_POLICY.get(proc, "remove_" + proc)
        return f"SELECT {remove}({_regclass(target)});\n-- then re-run migrate: it adds the policy as defined"
    return None


Renderer = Callable[[str, str, dict, dict, dict], str | None]
# Kind -> renderer; a kind without one gets the generic "review by hand" (or re-run migrate) line.
_RENDERERS: dict[str, Renderer] = {
    "schema": _suggest_schema,
    "extension": _suggest_extension,
    "type": _suggest_type,
    "table": _suggest_table,
    "column": _suggest_column,
    "constraint": _suggest_constraint,
    "index": _suggest_index,
    "view": _suggest_view,
    "matview": _suggest_matview,
    "cagg": _suggest_cagg,
    "function": _suggest_function,
    "trigger": _suggest_trigger,
    "sequence": _suggest_sequence,
    "rls": _suggest_rls,
    "policy": _suggest_policy,
    "grant": _suggest_grant,
    "hypertable": _suggest_hypertable,
    "dimension": _suggest_dimension,
    "job": _suggest_job,
}
