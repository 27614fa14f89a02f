"""What the restoring role may do, checked before a restore creates anything.

On a managed service the deploying role owns its database but is no superuser, and often has no
CREATEDB. A restore creates a database (CREATEDB), and for a TimescaleDB archive follows TimescaleDB's
documented procedure, whose steps a non-superuser cannot take on a stock server, whatever it is
granted (measured on PostgreSQL 15 + TimescaleDB 2.19; timescale/timescaledb#2686):

- `timescaledb_pre_restore()` sets `timescaledb.restoring` (GRANT SET ON PARAMETER allows that part)
  and then stops the database's background workers: "must be superuser to stop background workers";
- `timescaledb_post_restore()` restarts them: superuser only;
- pg_restore writes TimescaleDB's catalog and creates chunks in `_timescaledb_internal`, both owned by
  the superuser that created the extension ("permission denied for schema _timescaledb_internal"),
  and sets the extension's comment ("must be owner of extension timescaledb").

So a role that may not take those steps is refused here, naming what is missing and the statement
(or the command) a provider's admin would run, instead of failing halfway with a database left over.
An archive without TimescaleDB needs only CREATEDB.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from db.errors import ConfigError

ROLE_SQL = "SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"


def refuse_unless_may_restore(conn: psycopg.Connection, database: str, *, timescaledb: bool) -> None:
    """ConfigError, before anything exists, unless this role can restore the archive into `database`."""
    row = conn.execute(ROLE_SQL).fetchone()
    if row is None:  # a role that cannot see itself in pg_roles: let the statements themselves decide
        return
    role, superuser, createdb = row
    alter = sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(role)).as_string(None)
    if superuser:
        return
    if not createdb:
        raise ConfigError(
            f"role {role!r} may not create databases (it has no CREATEDB), and a restore writes into a "
            f"new database {database!r}; nothing was created",
            hint=f"ask the provider's admin to run: {alter}; then run the restore again",
        )
    if timescaledb:
        raise ConfigError(
            f"role {role!r} is not a superuser, and restoring a TimescaleDB backup needs one: "
            "timescaledb_pre_restore() and timescaledb_post_restore() stop and restart the database's "
            "background workers (superuser only), and pg_restore writes TimescaleDB's catalog and its "
            f"_timescaledb_internal chunks (owned by the extension's superuser); nothing was created",
            hint="run the restore as a superuser (the provider's admin role), e.g. with --database-url "
            "naming that role; or use the provider's own restore (point-in-time recovery, a fork)",
        )
