"""The lock each planned statement takes, as PostgreSQL 15 documents it (one table, one place).

Sources: the PostgreSQL 15 manual, "Explicit Locking" (13.3, table-level lock modes and the commands
that take them), and the reference page of each command ("ALTER TABLE": ACCESS EXCLUSIVE unless the
subcommand says otherwise; ADD FOREIGN KEY and ENABLE/DISABLE TRIGGER: SHARE ROW EXCLUSIVE, on the
referenced table too for a foreign key; VALIDATE CONSTRAINT, SET/RESET of fillfactor, autovacuum and
toast parameters, ATTACH PARTITION (on the parent): SHARE UPDATE EXCLUSIVE; "CREATE INDEX": SHARE,
CONCURRENTLY: SHARE UPDATE EXCLUSIVE; "CREATE TRIGGER": SHARE ROW EXCLUSIVE; "ALTER INDEX RENAME":
SHARE UPDATE EXCLUSIVE; "CREATE RULE"/"CREATE POLICY": ACCESS EXCLUSIVE on the table; "COMMENT":
SHARE UPDATE EXCLUSIVE on the commented relation; "ALTER SEQUENCE": SHARE ROW EXCLUSIVE on the
sequence). None: no lock on any existing relation (a new object, a catalog-only change such as GRANT,
CREATE FUNCTION, ALTER ROLE, ALTER DEFAULT PRIVILEGES).
"""

from __future__ import annotations

from db.plan.model import LockLevel

_AE = LockLevel.ACCESS_EXCLUSIVE
_SUE = LockLevel.SHARE_UPDATE_EXCLUSIVE
_SRE = LockLevel.SHARE_ROW_EXCLUSIVE

STATEMENT_LOCKS: dict[str, LockLevel | None] = {
    "CREATE SCHEMA": None,
    "DROP SCHEMA": None,
    "ALTER SCHEMA OWNER": None,
    "CREATE EXTENSION": None,
    "ALTER EXTENSION": None,
    "DROP EXTENSION": None,
    "CREATE TYPE": None,
    "ALTER TYPE ADD VALUE": None,
    "ALTER TYPE RENAME": None,
    "ALTER TYPE ATTRIBUTE": None,  # a composite type's rows; CASCADE also alters typed tables (OF the type)
    "DROP TYPE": None,
    "ALTER DOMAIN": None,
    "CREATE TABLE": None,
    "DROP TABLE": _AE,
    "ALTER TABLE RENAME": _AE,
    "ALTER TABLE SET SCHEMA": _AE,
    "ALTER TABLE SET LOGGED": _AE,
    "ALTER TABLE SET storage parameter": _SUE,  # fillfactor, autovacuum_*, toast.*, parallel_workers
    "ALTER TABLE SET other parameter": _AE,
    "ALTER TABLE INHERIT": _AE,
    "ALTER TABLE ATTACH PARTITION": _SUE,  # on the parent; ACCESS EXCLUSIVE on the partition
    "ALTER TABLE DETACH PARTITION": _AE,
    "ALTER TABLE ADD COLUMN": _AE,
    "ALTER TABLE DROP COLUMN": _AE,
    "ALTER TABLE RENAME COLUMN": _AE,
    "ALTER TABLE ALTER COLUMN TYPE": _AE,
    "ALTER TABLE ALTER COLUMN DEFAULT": _AE,
    "ALTER TABLE ALTER COLUMN NOT NULL": _AE,
    "ALTER TABLE ALTER COLUMN IDENTITY": _AE,
    "ALTER TABLE ALTER COLUMN DROP EXPRESSION": _AE,
    "ALTER TABLE ADD CHECK": _AE,
    "ALTER TABLE ADD FOREIGN KEY": _SRE,  # on both tables
    "ALTER TABLE ADD PRIMARY KEY": _AE,  # also UNIQUE and EXCLUDE
    "ALTER TABLE VALIDATE CONSTRAINT": _SUE,
    "ALTER TABLE DROP CONSTRAINT": _AE,
    "ALTER TABLE RENAME CONSTRAINT": _AE,
    "ALTER TABLE ALTER CONSTRAINT": _AE,  # PostgreSQL 18's NOT NULL [NO] INHERIT reaches the children
    "ALTER TABLE ROW LEVEL SECURITY": _AE,
    "ALTER TABLE ENABLE TRIGGER": _SRE,
    "ALTER TABLE REPLICA IDENTITY": _AE,
    "CREATE PUBLICATION": None,  # pg_publication rows; tables join it without a table lock
    "ALTER TABLE OWNER": _AE,
    "CREATE INDEX": LockLevel.SHARE,
    "CREATE INDEX CONCURRENTLY": _SUE,
    "DROP INDEX": _AE,  # on the table
    "DROP INDEX CONCURRENTLY": _SUE,
    "ALTER INDEX RENAME": _SUE,
    "CREATE VIEW": None,
    "ALTER VIEW": _AE,
    "DROP VIEW": _AE,
    "CREATE MATERIALIZED VIEW": None,
    "DROP MATERIALIZED VIEW": _AE,
    "CREATE SEQUENCE": None,
    "ALTER SEQUENCE": _SRE,
    "DROP SEQUENCE": _AE,
    "CREATE FUNCTION": None,
    "DROP FUNCTION": None,
    "CREATE TRIGGER": _SRE,
    "DROP TRIGGER": _AE,
    "CREATE RULE": _AE,
    "DROP RULE": _AE,
    "CREATE POLICY": _AE,
    "ALTER POLICY": _AE,
    "DROP POLICY": _AE,
    "COMMENT": _SUE,
    "GRANT": None,
    "ALTER DEFAULT PRIVILEGES": None,
    "CREATE ROLE": None,
    "ALTER ROLE": None,
    "GRANT ROLE": None,
    "INSERT": LockLevel.ROW_EXCLUSIVE,  # reference rows the file inserts: conflicts with no writer
    "create_hypertable": _AE,
    "add_dimension": _AE,
    "set_chunk_time_interval": None,  # TimescaleDB catalog rows only; applies to new chunks
    "ALTER TABLE SET timescaledb.compress": _AE,
    "ALTER MATERIALIZED VIEW SET": _AE,
    "add policy": None,  # a background job row
    "remove policy": None,
}

# Storage parameters whose SET/RESET takes SHARE UPDATE EXCLUSIVE (ALTER TABLE reference, PG 15).
LIGHT_STORAGE_PARAMETERS = ("fillfactor", "autovacuum_", "toast.", "parallel_workers", "toast_tuple_target")


def lock_for(statement: str) -> LockLevel | None:
    return STATEMENT_LOCKS[statement]
