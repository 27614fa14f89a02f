"""One normal form for expressions, so two spellings of one definition are one definition.

The catalog renders what the parser made of a definition, and the parse of a rendering can differ
from the parse of the original: `s IN ('a', 'b')` on a varchar column is stored as
`s::text = ANY (ARRAY['a'::varchar, 'b'::varchar]::text[])`, and when that text is executed (as
a plan does) it comes back as `s::text = ANY (ARRAY['a'::varchar::text, 'b'::varchar::text])`.
Compared as text, a database built from the file and one migrated by a plan would differ for ever,
and every deploy would drop and re-add the constraint (ACCESS EXCLUSIVE and a full validation) or
rebuild the index.

So where a definition differs between the two sides, both spellings are sent through the same server
once more, in the scratch database where the file was just applied (inside its transaction, each
probe in a savepoint that is rolled back): a probe constraint, index, default or policy is created
from each text and read back. Equal read-backs are one definition: the expected side takes the live
side's text, so nothing is reported or planned. The live catalog is never touched, and its snapshot
(which the plan's catalog checksum pins) is never changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from db.plan.quoting import qualified, quote_ident, split_child

Snapshot = dict[str, dict[str, dict[str, Any]]]
PROBE = "schemaflow_normal_form_probe"
_INDEX_NAME = re.compile(r'^(CREATE (?:UNIQUE )?INDEX )("(?:[^"]|"")+"|\S+)( ON )')
_CONSTRAINT_SQL = (
    "SELECT pg_get_constraintdef(oid, true) FROM pg_constraint "
    "WHERE conrelid = %(table)s::regclass AND conname = %(name)s"
)
_DOMAIN_CONSTRAINT_SQL = (
    "SELECT pg_get_constraintdef(oid, true) FROM pg_constraint WHERE contypid = %(type)s::regtype "
    "AND conname = %(name)s"
)
_INDEX_SQL = "SELECT pg_get_indexdef(%(index)s::regclass)"
_DEFAULT_SQL = (
    "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
    "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
    "WHERE d.adrelid = %(table)s::regclass AND a.attname = %(column)s"
)
_POLICY_SQL = (
    "SELECT qual, with_check FROM pg_policies WHERE schemaname = %(schema)s AND tablename = %(table)s "
    "AND policyname = %(name)s"
)


def align_spellings(conn: psycopg.Connection, expected: Snapshot, actual: Snapshot) -> int:
    """Give `expected` the live spelling of every definition that differs only in spelling.

    `conn` is the scratch database with the file applied, in an open transaction. Returns how many
    definitions were aligned.
    """
    aligned = 0
    for kind, attribute, probe in _PROBES:
        for name, e in expected.get(kind, {}).items():
            a = actual.get(kind, {}).get(name)
            if (
                a is None
                or e.get(attribute) == a.get(attribute)
                or not e.get(attribute)
                or not a.get(attribute)
            ):
                continue
            if not _same_elsewhere(kind, e, a):
                continue
            mine = _read_back(conn, probe, name, e, e[attribute])
            if mine is not None and mine == _read_back(conn, probe, name, e, a[attribute]):
                e[attribute] = a[attribute]
                aligned += 1
    return aligned


def _same_elsewhere(kind: str, e: dict[str, Any], a: dict[str, Any]) -> bool:
    """Only a spelling can be aligned: everything else about the object is the same on both sides."""
    if kind == "column":
        return e.get("type") == a.get("type") and e.get("collation") == a.get("collation")
    if kind == "constraint":
        return e.get("type") == a.get("type") == "c"
    if kind == "type":
        return e.get("base_type") == a.get("base_type") and e.get("check_names") == a.get("check_names")
    return True


def _read_back(
    conn: psycopg.Connection, probe: Callable[..., Any], name: str, entry: dict[str, Any], text: str
) -> Any:
    try:
        with conn.transaction(force_rollback=True), conn.cursor() as cur:
            cur.execute("SET LOCAL search_path = pg_catalog")
            return probe(cur, name, entry, text)
    except psycopg.Error:
        return None  # a text the server does not take here is not known to be the same


def _after(cur: psycopg.Cursor, statement: sql.Composed, query: str, params: dict[str, Any]) -> Any:
    """Run the probe's statement, then read back what the server made of it (first column, or None)."""
    cur.execute(statement)
    row = cur.execute(query, params).fetchone()
    return row[0] if row else None


def _check(cur: psycopg.Cursor, name: str, entry: dict[str, Any], text: str) -> Any:
    table = entry["parent"].split(":", 1)[1]
    statement = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(
        sql.SQL(qualified(table)),
        sql.Identifier(PROBE),
        sql.SQL(text.removesuffix(" NOT VALID")),  # type: ignore[arg-type]
    )
    return _after(cur, statement, _CONSTRAINT_SQL, {"table": qualified(table), "name": PROBE})


def _index(cur: psycopg.Cursor, name: str, entry: dict[str, Any], text: str) -> Any:
    schema = name.split(".", 1)[0]
    probe = _INDEX_NAME.sub(lambda m: m.group(1) + PROBE + m.group(3), text, count=1)
    if probe == text:
        return None
    cur.execute(probe)  # type: ignore[arg-type]  # pg_get_indexdef's own text
    row = cur.execute(_INDEX_SQL, {"index": f"{quote_ident(schema)}.{PROBE}"}).fetchone()
    return _INDEX_NAME.sub(lambda m: m.group(1) + "?" + m.group(3), row[0], count=1) if row else None


def _default(cur: psycopg.Cursor, name: str, entry: dict[str, Any], text: str) -> Any:
    table, column = name.rsplit(".", 1)
    statement = sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
        sql.SQL(qualified(table)),
        sql.Identifier(column),
        sql.SQL(text),  # type: ignore[arg-type]
    )
    return _after(cur, statement, _DEFAULT_SQL, {"table": qualified(table), "column": column})


def _generated(cur: psycopg.Cursor, name: str, entry: dict[str, Any], text: str) -> Any:
    """A generated column's expression, read back from a probe column of the same type and expression."""
    table = name.rsplit(".", 1)[0]
    statement = sql.SQL("ALTER TABLE {} ADD COLUMN {} {} GENERATED ALWAYS AS ({}) STORED").format(
        sql.SQL(qualified(table)),
        sql.Identifier(PROBE),
        sql.SQL(entry["type"]),
        sql.SQL(text),  # type: ignore[arg-type]
    )
    return _after(cur, statement, _DEFAULT_SQL, {"table": qualified(table), "column": PROBE})


def _domain_checks(cur: psycopg.Cursor, name: str, entry: dict[str, Any], texts: list[str]) -> Any:
    """A domain's CHECKs, each added again under a probe name and read back, in order."""
    if entry.get("type") != "domain":
        return None
    back = []
    for i, text in enumerate(texts):
        probe = f"{PROBE}_{i}"
        statement = sql.SQL("ALTER DOMAIN {} ADD CONSTRAINT {} {} NOT VALID").format(
            sql.SQL(qualified(name)),
            sql.Identifier(probe),
            sql.SQL(text.removesuffix(" NOT VALID")),  # type: ignore[arg-type]
        )
        back.append(_after(cur, statement, _DOMAIN_CONSTRAINT_SQL, {"type": qualified(name), "name": probe}))
    return back


def _policy(clause: str) -> Callable[..., Any]:
    def probe(cur: psycopg.Cursor, name: str, entry: dict[str, Any], text: str) -> Any:
        rel, policy = split_child(name)
        keyword = "USING" if clause == "qual" else "WITH CHECK"
        cur.execute(f"ALTER POLICY {policy} ON {rel} {keyword} ({text})")  # type: ignore[arg-type]
        schema, table, plain = name.split(".", 2)
        row = cur.execute(_POLICY_SQL, {"schema": schema, "table": table, "name": plain}).fetchone()
        return (row[0] if clause == "qual" else row[1]) if row else None

    return probe


# (kind, attribute holding the text, how to read a text back through the server)
_PROBES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("constraint", "definition", _check),
    ("index", "definition", _index),
    ("column", "default", _default),
    ("column", "generated", _generated),
    ("type", "checks", _domain_checks),
    ("policy", "using", _policy("qual")),
    ("policy", "with_check", _policy("with_check")),
)
