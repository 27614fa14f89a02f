"""Restoring a backup from db/backup/dump.py: into a new database, or in place of the target (old one kept).

Restore follows TimescaleDB's documented procedure: a fresh database, `CREATE EXTENSION timescaledb`,
`timescaledb_pre_restore()`, pg_restore, `timescaledb_post_restore()`, ANALYZE.

In place means restore into a fresh database first, then swap names, so the target is never half
restored and the old database survives as `<name>_replaced_<timestamp>`. The swap closes the target
to new connections before ending its sessions (an application pool would otherwise reconnect before
the rename and make it fail) and renames both databases in one transaction, so there is never a
moment, or a failure, that leaves no database under the target's name. The same transaction gives
the fresh database the old one's owner, ACL, settings and comment (db/backup/properties.py); until
then the fresh database admits only its creator, so a locked-out role cannot slip in meanwhile.

Before anything is created, the archive must be a non-empty backup of this environment's database on
this server (db/backup/manifest.py), unless the caller allows otherwise explicitly.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from db.backup.dump import archive_contents, default_jobs, first_error, pg_binary, run_pg_tool
from db.backup.manifest import ServerIdentity, check_archive_origin, read_manifest, read_system_identifier
from db.backup.processes import stopped_by_sigterm
from db.backup.properties import apply_properties, read_properties
from db.backup.rights import refuse_unless_may_restore
from db.backup.unfinished import (
    ADMIN_DATABASE,
    clear_mark,
    mark_unfinished,
    remove_unfinished_restores,
    restoring_into,
)
from db.connection.connect import connect
from db.connection.urls import first_error_line, mask_url, validate_url, with_database
from db.errors import BackupFailed, ConfigError, ConnectionFailed, RestoreInterrupted


@dataclass(frozen=True)
class RestoreResult:
    """Where a backup was restored, and what became of the database it replaced (if any)."""

    database: str
    url: str = field(repr=False)
    seconds: float
    replaced: str | None = None  # the previous database, kept under this name
    allowed: list[str] = field(default_factory=list)  # origin/emptiness problems explicitly allowed
    removed: list[str] = field(default_factory=list)  # databases dead restores had left, dropped first


def manual_restore_commands(path: Path, url: str, *, timescaledb: bool = True) -> list[str]:
    """The same restore by hand with psql and pg_restore (into an empty database), password masked."""
    masked = mask_url(url)
    steps = []
    if timescaledb:
        steps.append(
            f"psql '{masked}' -c 'CREATE EXTENSION IF NOT EXISTS timescaledb' "
            "-c 'SELECT timescaledb_pre_restore()'"
        )
    steps.append(f"pg_restore --jobs={default_jobs()} --dbname='{masked}' {path}")
    if timescaledb:
        steps.append(f"psql '{masked}' -c 'SELECT timescaledb_post_restore()' -c 'ANALYZE'")
    return steps


def restore_backup(
    path: Path,
    url: str,
    *,
    environment: str,
    into: str | None = None,
    jobs: int | None = None,
    allow_foreign: bool = False,
    allow_empty: bool = False,
) -> RestoreResult:
    """Restore `path` into a new database `into`, or, without `into`, in place of `url`'s database.

    `path` must be a non-empty backup of `environment`'s database (`url`'s) on this server, unless
    `allow_foreign` / `allow_empty` say otherwise: CheckFailed, nothing touched. In place keeps the old
    database as `<name>_replaced_<timestamp>` so nothing is lost if the restore was a mistake; raises
    BackupFailed (the restored copy dropped, the target untouched).
    """
    path = Path(path)
    started = time.monotonic()
    contents = archive_contents(path)
    target = validate_url(url)["database"]
    if not into and target == ADMIN_DATABASE:
        # The swap runs from this database, and PostgreSQL cannot rename the database it is in.
        raise ConfigError(
            f"cannot replace the {ADMIN_DATABASE!r} database in place",
            hint="restore with --into NAME and point the application at NAME",
        )
    admin_url = with_database(url, ADMIN_DATABASE)
    removed = remove_unfinished_restores(admin_url, environment)
    with connect(admin_url, autocommit=True) as guard:
        identity = ServerIdentity(target, read_system_identifier(guard))
        allowed = check_archive_origin(
            path,
            read_manifest(path),
            environment=environment,
            target=identity,
            tables=contents.tables,
            allow_foreign=allow_foreign,
            allow_empty=allow_empty,
            archive_dbname=contents.dbname,
            archive_entries=contents.entries,
        )
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        fresh = into or f"{target[:40]}_restore_{stamp}"
        refuse_unless_may_restore(guard, fresh, timescaledb=contents.timescaledb)
        _refuse_existing(guard, fresh)
        replaced = None
        with stopped_by_sigterm() as stop, restoring_into(guard, fresh):
            try:
                # A statement cut short by the signal would leave the session busy and the database
                # unmarked; the signal is raised once both are done, and the clean-up drops it.
                with stop.deferred():
                    _create_database(guard, fresh, private=not into)
                    mark_unfinished(guard, fresh, environment=environment, target=target)
                _restore_into(path, with_database(url, fresh), contents.timescaledb, jobs or default_jobs())
                with stop.deferred():  # the swap (or the unmarking) is done whole or not at all
                    if into:
                        clear_mark(guard, fresh)
                    else:
                        replaced = f"{target[:40]}_replaced_{stamp}"
                        _swap_databases(admin_url, target, fresh, replaced)
            except BaseException:
                stop.hold()  # a second SIGTERM must not cut the clean-up short
                dropped = _drop_quietly(admin_url, fresh)
                if stop.signal_name:
                    raise _interrupted(stop.signal_name, fresh, dropped, target, into) from None
                raise
    seconds = time.monotonic() - started
    if into:
        return RestoreResult(fresh, with_database(url, fresh), seconds, allowed=allowed, removed=removed)
    return RestoreResult(target, url, seconds, replaced=replaced, allowed=allowed, removed=removed)


def _interrupted(
    signal_name: str, fresh: str, dropped: str | None, target: str, into: str | None
) -> Exception:
    cleaned = (
        f"the unfinished database {fresh!r} was dropped"
        if dropped is None
        else f"dropping the unfinished database {fresh!r} failed ({dropped}); the next restore or "
        "backup of this environment drops it"
    )
    kept = "" if into else f"; {target!r} was not changed"
    return RestoreInterrupted(
        f"stopped by {signal_name}: pg_restore was stopped and {cleaned}{kept}",
        hint="run the restore again when ready",
    )


def _drop_quietly(admin_url: str, name: str) -> str | None:
    """Drop `name` on a new connection (the guard's may be mid-statement); the error text, else None."""
    try:
        _drop_database(admin_url, name)
    except (psycopg.Error, ConnectionFailed) as exc:
        return first_error_line(exc)
    return None


def _restore_into(path: Path, url: str, timescaledb: bool, jobs: int) -> None:
    if timescaledb:
        # TimescaleDB's documented procedure: its catalog must not react to the rows pg_restore writes.
        with connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
    failure = None
    for args in _restore_passes(path, timescaledb, jobs):
        result = run_pg_tool("pg_restore", ["--exit-on-error", *args, str(path)], url, 10)
        if result.returncode != 0:
            failure = first_error(result.stderr, url)
            break
    if timescaledb:
        with connect(url, autocommit=True) as conn:
            conn.execute("SELECT timescaledb_post_restore()")
            if failure is None:
                conn.execute("ANALYZE")
    if failure is not None:
        raise BackupFailed(
            f"pg_restore of {path} failed: {failure}",
            hint="the partly restored database was dropped; fix the cause and run it again",
        )


def _restore_passes(path: Path, timescaledb: bool, jobs: int) -> list[list[str]]:
    """pg_restore argument lists, run in order.

    TimescaleDB's catalog tables reference each other in a cycle, so loading them in parallel breaks
    their foreign keys (timescale/timescaledb#698; its docs say not to use -j). Load its catalog
    schemas in one job, everything else (the chunks: nearly all the bytes) in parallel.
    """
    if not timescaledb:
        return [[f"--jobs={jobs}"]]
    serial = sorted(
        {s for s in _data_schemas(path) if s.startswith("_timescaledb_") and s != "_timescaledb_internal"}
    )
    return [
        ["--section=pre-data"],
        ["--section=data", *(f"--schema={s}" for s in serial)],
        ["--section=data", f"--jobs={jobs}", *(f"--exclude-schema={s}" for s in serial)],
        ["--section=post-data", f"--jobs={jobs}"],
    ]


def _data_schemas(path: Path) -> set[str]:
    listing = subprocess.run(
        [pg_binary("pg_restore"), "--list", str(path)], capture_output=True, text=True, check=False
    )
    schemas = set()
    for line in listing.stdout.splitlines():
        # "4243; 0 17037 TABLE DATA _timescaledb_catalog hypertable postgres"
        words = line.split()
        if len(words) > 5 and words[3:5] == ["TABLE", "DATA"]:
            schemas.add(words[5])
    return schemas


def _refuse_existing(conn: psycopg.Connection, name: str) -> None:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        raise ConfigError(f"database {name!r} already exists", hint="choose another name with --into")


def _create_database(conn: psycopg.Connection, name: str, *, private: bool) -> None:
    """CREATE DATABASE `name`; `private`: only its creator (and superusers) may connect until the swap."""
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    if private:
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))


def _drop_database(admin_url: str, name: str) -> None:
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(_drop(name))


def _drop(name: str) -> sql.Composed:
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))


def _allow_connections(name: str, allowed: bool) -> sql.Composed:
    return sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
        sql.Identifier(name), sql.SQL("true" if allowed else "false")
    )


def _rename(old: str, new: str) -> sql.Composed:
    return sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new))


def _swap_databases(admin_url: str, target: str, fresh: str, replaced: str) -> None:
    """Rename `target` to `replaced` and `fresh` to `target`, both or neither; BackupFailed otherwise.

    `fresh` gets `target`'s owner, ACL, settings and comment in the same transaction. On failure
    `fresh` is dropped and `target` is left as it was, open to connections again.
    """
    try:
        with connect(admin_url, autocommit=True) as conn:
            properties = read_properties(conn, target)  # before ALLOW_CONNECTIONS false changes anything
            # Committed on its own so it is in force before the sessions end: a pool that reconnects
            # now is refused instead of making the rename fail with "being accessed by other users".
            conn.execute(_allow_connections(target, False))
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (target,),
            )
            # RENAME waits up to 5 s for the ended sessions to exit; unlike CREATE/DROP DATABASE it
            # may run in a transaction block, which is what makes the swap all or nothing.
            with conn.transaction():
                apply_properties(conn, fresh, properties)
                conn.execute(_rename(target, replaced))
                conn.execute(_rename(fresh, target))
                # Reopened so the kept database can be inspected or dropped; nobody knows its name yet.
                conn.execute(_allow_connections(replaced, True))
    except (psycopg.Error, ConnectionFailed, LookupError) as exc:
        raise _swap_failed(exc, admin_url, target, fresh) from None


def _swap_failed(exc: Exception, admin_url: str, target: str, fresh: str) -> BackupFailed:
    """Undo what the swap did (best effort, a new connection: the old one may be gone) and explain."""
    diag = getattr(exc, "diag", None)
    detail = mask_url(getattr(diag, "message_primary", None) or str(exc).strip() or type(exc).__name__)
    outcome = f"{target!r} was left unchanged and the restored copy {fresh!r} dropped"
    try:
        with connect(admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,)).fetchone():
                conn.execute(_allow_connections(target, True))
            conn.execute(_drop(fresh))
    except (psycopg.Error, ConnectionFailed) as again:
        outcome = (
            f"cleaning up also failed ({mask_url(str(again).strip())}): run ALTER DATABASE "
            f'"{target}" WITH ALLOW_CONNECTIONS true and DROP DATABASE "{fresh}" by hand'
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        hint = (
            "replacing a database needs its owner (with CREATEDB) or a superuser; run as such a role, "
            "or restore with --into NAME and switch the application to NAME"
        )
    elif isinstance(exc, psycopg.errors.ObjectInUse):
        hint = (
            f"sessions on {target!r} did not end (a prepared transaction, or one this role may not end); "
            "end them and run the restore again, or restore with --into NAME"
        )
    else:
        hint = "fix the cause and run the restore again, or restore with --into NAME and switch by hand"
    return BackupFailed(
        f"could not swap the restored database in place of {target!r}: {detail}; {outcome}",
        hint=hint,
    )
