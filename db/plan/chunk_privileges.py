"""Keeping a hypertable's chunks closed: the privileges a plan must take back from every chunk.

Chunks have no row-level security, so a privilege on a chunk is a privilege on every tenant's rows of
that time range. TimescaleDB copies a hypertable's table-level ACL onto each chunk it creates (that is
the design the master file relies on: the event tables carry column privileges only), but a GRANT on
the hypertable, column privileges included, is also applied to every chunk that exists when it runs.
So a plan that grants a column of a hypertable must take that grant back from the chunks in the same
transaction, and a chunk found holding more than a new chunk would get is drift with the same fix.

The catalog snapshot records, per hypertable, `chunk_grants`: the privileges some chunk holds beyond
the hypertable's own table-level ACL and its owner's (db/catalog/queries.py CHUNK_GRANTS_SQL), as
"grantee PRIVILEGE" or "grantee PRIVILEGE (column)". The expected side has no chunks: always empty.
"""

from __future__ import annotations

from collections.abc import Callable

from db.plan.quoting import literal, quote_ident, regclass

# One loop over the hypertable's chunks (pg_inherits: readable by every role, unlike TimescaleDB's
# catalog on a managed service); each REVOKE is a catalog update, no table lock.
_REVOKE_ON_CHUNKS = """DO $schemaflow$
DECLARE
    chunk regclass;
BEGIN
    FOR chunk IN SELECT i.inhrelid::regclass FROM pg_inherits i WHERE i.inhparent = {hypertable}::regclass
                 ORDER BY i.inhrelid LOOP
{revokes}
    END LOOP;
END
$schemaflow$"""
_ONE_REVOKE = "        EXECUTE {before} || chunk::text || {after};"


def chunk_grant(grantee: str, privilege: str, column: str | None = None) -> str:
    """The snapshot's spelling of one privilege held on a chunk."""
    return f"{grantee} {privilege}" + (f" ({column})" if column else "")


def parse_chunk_grant(item: str) -> tuple[str, str, str | None]:
    """(grantee, privilege, column or None) back from chunk_grant's text."""
    head, _, column = item.partition(" (")
    grantee, privilege = head.rsplit(" ", 1)
    return grantee, privilege, column[:-1] if column else None


def revoke_on_chunks_sql(hypertable: str, items: list[str], role: Callable[[str], str]) -> str:
    """A DO block that revokes `items` (chunk_grant texts) from every chunk of `hypertable`.

    `role` spells a grantee as SQL (the plan context's: PUBLIC, the migrating role, quoting).
    """
    by_target: dict[tuple[str, str | None], list[str]] = {}
    for item in sorted(items):
        grantee, privilege, column = parse_chunk_grant(item)
        by_target.setdefault((grantee, column), []).append(privilege)
    revokes = []
    for (grantee, column), privileges in sorted(by_target.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        on_column = f" ({quote_ident(column)})" if column else ""
        who = role(grantee)
        listed = ", ".join(f"{p}{on_column}" for p in privileges)
        revokes.append(
            _ONE_REVOKE.format(before=literal(f"REVOKE {listed} ON "), after=literal(f" FROM {who}"))
        )
    return _REVOKE_ON_CHUNKS.format(hypertable=regclass(hypertable), revokes="\n".join(revokes))
