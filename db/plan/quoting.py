"""Plain-text SQL for the plan: identifiers quoted only where PostgreSQL needs it, literals escaped.

A plan is rendered as text (a psql script, JSON, an artifact), so every statement is built as a string
here; the quoting itself is psycopg's (`sql.Identifier(...).as_string`), and identifiers stay unquoted
only when they are simple lower-case names that are not keywords, so the script reads like hand SQL.
"""

from __future__ import annotations

import re

from psycopg import sql

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


def literal(text: str) -> str:
    """A string literal (standard_conforming_strings is on in every supported server)."""
    return "'" + text.replace("'", "''") + "'"


def qualified(name: str) -> str:
    """'schema.relation' (as the snapshot spells it) quoted: the schema never contains a dot."""
    schema, rel = name.split(".", 1)
    return f"{quote_ident(schema)}.{quote_ident(rel)}"


def split_child(name: str) -> tuple[str, str]:
    """'schema.table.child' -> (quoted 'schema.table', quoted child); table names may hold no dot."""
    schema, table, child = name.split(".", 2)
    return f"{quote_ident(schema)}.{quote_ident(table)}", quote_ident(child)


def child_parts(name: str) -> tuple[str, str]:
    """'schema.table.child' -> ('schema.table', 'child') unquoted."""
    schema, table, child = name.split(".", 2)
    return f"{schema}.{table}", child


def function_ref(name: str) -> str:
    """'schema.fname(args)' with schema and name quoted; the arguments are PostgreSQL's own text."""
    schema, rest = name.split(".", 1)
    fname, args = rest.split("(", 1)
    return f"{quote_ident(schema)}.{quote_ident(fname)}({args}"


def regclass(name: str) -> str:
    """'schema.table' as a regclass literal: quoted inside, since regclass input folds case."""
    return literal(qualified(name))
