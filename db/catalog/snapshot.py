"""The catalog snapshot shared by apply's change report, health checks and drift detection.

`snapshot_catalog(conn)` reads the schema objects of a database in a handful of catalog queries
(db/catalog/queries.py) into a JSON-serialisable dict `{kind: {name: {attribute: value}}}`;
db/plan/differences.py compares two of them. Names carry no OIDs, so
the snapshots of two databases built from the same file are equal. Owners and grantors equal to the
migrating role are written as MIGRATOR, so a database migrated by one role and a scratch database
built by another compare equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from db.catalog import coverage as cov
from db.catalog import queries as q
from db.catalog.dependencies import CAGG_DEPENDENCIES_SQL, DEPENDENCIES_SQL, DEPENDS_ON, attach_dependencies
from db.catalog.owners import normalise_owner
from db.catalog.timescaledb_snapshot import add_timescaledb

KINDS = (
    "schema",
    "extension",
    "type",
    "table",
    "column",
    "constraint",
    "index",
    "view",
    "matview",
    "function",
    "trigger",
    "sequence",
    "rls",
    "policy",
    "grant",
    "hypertable",
    "dimension",
    "cagg",
    "job",
    "comment",
    "rule",
    "default_privilege",
    "publication",
    "role",
    "role_membership",
)
# Kinds whose disappearance takes their children (entries whose "parent" names them) with them.
CONTAINER_KINDS = ("schema", "table", "view", "matview", "sequence", "function", "hypertable", "cagg")
PARENT = "parent"  # attribute naming the containing object as "kind:name"; not compared
# `local` (attislocal, conislocal) tells the planner what a parent table brings with it; a table that
# was attached as a partition keeps its own columns local, so it is not a difference.
# An identity column's sequence name is PostgreSQL's choice (renamed with the table by the planner).
NOT_COMPARED = (PARENT, DEPENDS_ON, "local", "identity_sequence", "not_null_name")
_RELKIND_NAMES = {"r": "table", "p": "partitioned table", "f": "foreign table"}

Snapshot = dict[str, dict[str, dict[str, Any]]]
Rows = Callable[[str], list[dict[str, Any]]]
_SET_PATH_SQL = (
    "SELECT current_setting('search_path') AS previous, set_config('search_path', %(path)s, true) AS now"
)


def snapshot_catalog(
    conn: psycopg.Connection,
    schemas: Iterable[str] | None = ("public",),
    *,
    exclude_schemas: Iterable[str] = (),
    roles: Iterable[str] = (),
    migrating_role: str | None = None,
) -> Snapshot:
    """Read every schema object in `schemas` (None: every user schema) into {kind: {name: {attr: value}}}.

    `roles`: the cluster roles to describe (those the schema file declares). `migrating_role`: the
    role whose ownership is "the file's" (written as MIGRATOR); None leaves owners as they are.
    """
    snap: Snapshot = {kind: {} for kind in KINDS}
    # A search_path of pg_catalog alone makes every definition schema-qualified, so a database-level
    # search_path setting cannot make two identical catalogs look different. Restored before returning.
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        old_path = cur.execute(_SET_PATH_SQL, {"path": "pg_catalog"}).fetchone()["previous"]  # type: ignore[index]
        cur.execute(q.NO_JIT_SQL)
        if schemas is None:
            found = cur.execute(q.ALL_SCHEMAS_SQL, {"exclude": list(exclude_schemas)}).fetchall()
            schemas = [r["name"] for r in found]
        params = {"schemas": list(schemas), "roles": list(roles)}

        def rows(query: str) -> list[dict[str, Any]]:
            return cur.execute(query, params).fetchall()

        _add_schemas_and_types(snap, rows)
        _add_relations(snap, rows(q.RELATIONS_SQL))
        _add_table_parts(snap, rows)
        _add_code_and_policies(snap, rows)
        cov.add_comments(snap, rows(cov.COMMENTS_SQL), PARENT)
        cov.add_rules(snap, rows(cov.RULES_SQL), PARENT)
        cov.add_default_privileges(snap, rows(cov.DEFAULT_PRIVILEGES_SQL))
        cov.add_roles(snap, rows(cov.ROLES_SQL), rows(cov.ROLE_MEMBERSHIPS_SQL), PARENT)
        _add_publications(snap, rows(q.PUBLICATIONS_SQL), set(schemas))
        edges = rows(DEPENDENCIES_SQL)
        if cur.execute(q.TIMESCALEDB_PRESENT_SQL).fetchone()["present"]:  # type: ignore[index]
            # TimescaleDB's catalog tables are its owner's; a monitoring role reads the information views.
            catalog = cur.execute(q.CAGG_CATALOG_READABLE_SQL).fetchone()["readable"]  # type: ignore[index]
            add_timescaledb(snap, rows, catalog)
            if catalog:
                edges += rows(CAGG_DEPENDENCIES_SQL)
        attach_dependencies(snap, edges)
        cur.execute("SELECT set_config('search_path', %(path)s, true)", {"path": old_path})
    if migrating_role:
        normalise_owner(snap, migrating_role)
    return snap


@dataclass(frozen=True)
class SnapshotScope:
    """What a snapshot of the live side covers, so the same snapshot can be read again later."""

    schemas: tuple[str, ...] | None  # None: every user schema
    exclude_schemas: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    migrating_role: str | None = None


def snapshot_in_scope(conn: psycopg.Connection, scope: SnapshotScope) -> Snapshot:
    """snapshot_catalog over `scope`: the planner's live side, and the executor's re-read of it."""
    return snapshot_catalog(
        conn, scope.schemas, exclude_schemas=scope.exclude_schemas, roles=scope.roles,
        migrating_role=scope.migrating_role,
    )  # fmt: skip


def _add_schemas_and_types(snap: Snapshot, rows: Rows) -> None:
    for r in rows(q.SCHEMAS_SQL):
        snap["schema"][r["name"]] = {"owner": r["owner"]}
        snap["grant"][f"schema {r['name']}"] = _grant(r["owner"], r["acl"], f"schema:{r['name']}")
    for r in rows(q.EXTENSIONS_SQL):
        snap["extension"][r["name"]] = {"version": r["version"], "schema": r["schema"]}
    for r in rows(q.TYPES_SQL):
        name = f"{r['schema']}.{r['name']}"
        snap["type"][name] = {
            PARENT: f"schema:{r['schema']}",
            "type": {"e": "enum", "d": "domain", "c": "composite"}[r["type"]],
            "base_type": r["base_type"],
            "labels": r["labels"],
            "checks": r["checks"],
            "check_names": r["check_names"],
            "not_null": r["not_null"],
            "default": r["default_expr"],
            "attributes": r["attributes"],
        }
        snap["grant"][f"type {name}"] = _grant(r["owner"], r["acl"], f"type:{name}")


def _add_table_parts(snap: Snapshot, rows: Rows) -> None:
    """Columns, constraints and indexes: the children of tables (and of materialized views)."""
    for r in rows(q.COLUMNS_SQL):
        table = f"{r['schema']}.{r['relation']}"
        snap["column"][f"{table}.{r['name']}"] = {
            PARENT: f"table:{table}",
            "type": r["type"],
            "not_null": r["not_null"],
            "default": None if r["generated"] else r["default_expr"],
            "identity": r["identity"],
            "generated": r["default_expr"] if r["generated"] else None,
            "collation": r["collation"],
            "acl": sorted(r["acl"] or []),
            "identity_options": _identity_options(r) if r["identity"] else None,
            "identity_sequence": r["id_sequence"],
            "local": r["local"],
        }
        # Keys only where a server has the feature, so older servers' snapshots stay as they were.
        if r["generated"] == "v":  # PostgreSQL 18: computed when read, never stored
            snap["column"][f"{table}.{r['name']}"]["virtual"] = True
        if r["not_null_constraint"]:
            snap["column"][f"{table}.{r['name']}"]["not_null_constraint"] = r["not_null_constraint"]
        if r["not_null_name"]:  # not compared: a rename of its table or column carries it along
            snap["column"][f"{table}.{r['name']}"]["not_null_name"] = r["not_null_name"]
    for r in rows(q.CONSTRAINTS_SQL):
        table = f"{r['schema']}.{r['relation']}"
        snap["constraint"][f"{table}.{r['name']}"] = {
            PARENT: f"table:{table}",
            "type": r["type"],
            "definition": r["definition"],
            "validated": r["validated"],
            "deferrable": r["deferrable"],
            "deferred": r["deferred"],
            "local": r["local"],
        }
    relkinds = _relation_kinds(snap)
    for r in rows(q.INDEXES_SQL):
        table = f"{r['schema']}.{r['relation']}"
        snap["index"][f"{r['schema']}.{r['name']}"] = {
            PARENT: f"{relkinds.get(table, 'table')}:{table}",
            "table": table,
            "definition": r["definition"],
            "valid": r["valid"],
            "attached": r["attached"],
            "attached_to": r["attached_to"],  # the partitioned table's index this one is part of
        }


def _identity_options(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "increment": r["id_increment"],
        "min": r["id_min"],
        "max": r["id_max"],
        "start": r["id_start"],
        "cache": r["id_cache"],
        "cycle": r["id_cycle"],
    }


def _add_code_and_policies(snap: Snapshot, rows: Rows) -> None:
    """Functions, triggers and row-level security policies."""
    for r in rows(q.FUNCTIONS_SQL):
        name = f"{r['schema']}.{r['name']}({r['arguments']})"
        snap["function"][name] = {
            PARENT: f"schema:{r['schema']}",
            "kind": r["kind"],
            "returns": r["returns"],
            "definition": r["definition"],
        }
        snap["grant"][f"function {name}"] = _grant(r["owner"], r["acl"], f"function:{name}")
    relkinds = _relation_kinds(snap)
    for r in rows(q.TRIGGERS_SQL):
        table = f"{r['schema']}.{r['relation']}"
        snap["trigger"][f"{table}.{r['name']}"] = {
            PARENT: f"{relkinds.get(table, 'table')}:{table}",
            "definition": r["definition"],
            "enabled": r["enabled"],
        }
    for r in rows(q.POLICIES_SQL):
        table = f"{r['schema']}.{r['relation']}"
        snap["policy"][f"{table}.{r['name']}"] = {
            PARENT: f"table:{table}",
            "permissive": r["permissive"],
            "roles": sorted(r["roles"] or []),
            "cmd": r["cmd"],
            "using": r["qual"],
            "with_check": r["with_check"],
        }


def _add_publications(snap: Snapshot, rows: list[dict[str, Any]], schemas: set[str]) -> None:
    """Publications of the database: a table named in one streams its rows to every subscriber."""
    for r in rows:
        snap["publication"][r["name"]] = {
            "all_tables": r["all_tables"],
            "tables": [t for t in r["tables"] if t.split(".", 1)[0] in schemas],
            "publish": [op for op in ("insert", "update", "delete", "truncate") if r[f"pub{op}"]],
        }


def _relation_kinds(snap: Snapshot) -> dict[str, str]:
    return {name: kind for kind in ("table", "view", "matview") for name in snap[kind]}


def _add_relations(snap: Snapshot, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        name = f"{r['schema']}.{r['name']}"
        parent = f"schema:{r['schema']}"
        kind = {"v": "view", "m": "matview", "S": "sequence"}.get(r["relkind"], "table")
        if kind == "table":
            snap["table"][name] = {
                PARENT: parent,
                "relkind": _RELKIND_NAMES[r["relkind"]],
                "persistence": r["persistence"],
                "options": r["options"],
                "inherits": r["inherits"] or [],
                "partition_key": r["partition_key"],
                "partition_bound": r["partition_bound"],
                # What an UPDATE or DELETE writes to the WAL for logical replication.
                "replica_identity": r["replica_identity"]
                + (f" {r['replica_index']}" if r["replica_identity"] == "i" else ""),
            }
            snap["rls"][name] = {
                PARENT: f"table:{name}",
                "enabled": r["rls_enabled"],
                "forced": r["rls_forced"],
            }
        elif kind == "sequence":
            snap["sequence"][name] = {
                PARENT: parent,
                "type": r["seq_type"],
                "increment": r["seq_increment"],
                "min": r["seq_min"],
                "max": r["seq_max"],
                "cycle": r["seq_cycle"],
                "cache": r["seq_cache"],
                "start": r["seq_start"],
                "owned_by": r["seq_owned_by"],
            }
        else:
            snap[kind][name] = {PARENT: parent, "definition": r["definition"], "options": r["options"]}
        snap["grant"][f"{kind} {name}"] = _grant(r["owner"], r["acl"], f"{kind}:{name}")


def _grant(owner: str, acl: list[str] | None, parent: str) -> dict[str, Any]:
    # A NULL acl means "the owner's default privileges": spelled out, so that a list PostgreSQL made
    # explicit by a GRANT and a REVOKE compares equal to the default it is.
    kind = parent.split(":", 1)[0]
    privileges = sorted(acl) if acl is not None else cov.default_acl(kind, owner)
    return {PARENT: parent, "owner": owner, "privileges": privileges}


def compared_attributes(entry: dict[str, Any]) -> dict[str, Any]:
    """An object's attributes that a comparison looks at (NOT_COMPARED left out)."""
    return {k: v for k, v in entry.items() if k not in NOT_COMPARED}
