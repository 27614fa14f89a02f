"""Preflight: can we safely migrate this target right now? One row per check, each with its reason.

It sits in db/run, above what it checks: the server (db/deploy, db/catalog) and the one-offs
(db/versions, which itself builds on db/deploy).

`run_preflight` never raises for a failed check: the caller (the flow's preflight task, the CLI)
decides what a 'fail' row means. When the URL is invalid or the server unreachable, the checks that
need a connection are reported as 'skip'. Interpreting --yes / SKIP_CONFIRMATION / an interactive
"yes" is the caller's job; `confirmed` says where the confirmation came from, and the row repeats it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import psycopg

from db.catalog.capabilities import Capabilities, detect_capabilities
from db.connection.connect import connect
from db.connection.environments import Environment
from db.connection.sources import source_of
from db.connection.target import Target, make_target
from db.connection.urls import first_error_line, mask_url
from db.deploy.check_result import CheckResult
from db.deploy.confirmation import APPROVAL_PENDING, CONFIRMATION_HINT, NOT_REQUIRED
from db.deploy.lock import describe_lock_holder
from db.errors import CheckFailed, ConnectionFailed, SchemaflowError
from db.versions.files import discover_migrations
from db.versions.validate import version_status

MIN_SERVER_VERSION_NUM = 150000
# Rows whose failure means the target itself is wrong or unreachable: a configuration/connection
# error (exit 2), not a failed check (exit 1).
_TARGET_ROWS = ("url valid", "server reachable")

# Preflight's own queries must never hang behind someone else's lock.
PREFLIGHT_SETTINGS_SQL = "SET statement_timeout = '15s'; SET lock_timeout = '2s'"

PRIVILEGES_SQL = """
SELECT current_user::text,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       has_database_privilege(current_database(), 'CREATE') AS can_create_schema,
       (SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace AS n
         WHERE n.nspname = %(schema)s) AS can_create_in_schema
"""
# Transactions older than %(age)s seconds holding any lock on a relation in the target schema:
# apply's ALTERs would queue behind them (and everything else would queue behind apply).
BLOCKING_TRANSACTIONS_SQL = """
SELECT a.pid, a.usename::text, a.application_name, a.state,
       round(extract(epoch FROM now() - a.xact_start))::int AS seconds,
       string_agg(DISTINCT format('%%s (%%s)', c.relname, l.mode), ', ') AS relations
FROM pg_locks AS l
JOIN pg_class AS c ON c.oid = l.relation
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND n.nspname = %(schema)s
  AND a.pid <> pg_backend_pid()
  AND a.xact_start < now() - make_interval(secs => %(age)s)
GROUP BY a.pid, a.usename, a.application_name, a.state, a.xact_start
ORDER BY a.xact_start
"""


_SERVER_CHECKS = (
    "postgresql version",
    "timescaledb",
    "not a read replica",
    "create privilege",
    "migration lock",
    "blocking transactions",
    "one-off migrations",
)


def preflight_failed(rows: list[CheckResult]) -> bool:
    """True when any row failed (a run must stop before backup and apply)."""
    return any(row.status == "fail" for row in rows)


class TargetUnreachable(ConnectionFailed):
    """Preflight could not use the target (bad URL, unreachable, wrong password, no database): exit 2."""

    def __init__(self, message: str, *, hint: str | None = None, rows: list | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rows = rows or []


def preflight_error(rows: list[CheckResult], environment: str) -> SchemaflowError:
    """The error for failed `rows`: TargetUnreachable when the target itself failed, else CheckFailed."""
    failed = [r for r in rows if r.status == "fail"]
    first = failed[0]
    message = (
        f"preflight failed for {environment}: {', '.join(r.name for r in failed)} "
        f"({first.detail}); nothing was changed"
    )
    kind = TargetUnreachable if first.name in _TARGET_ROWS else CheckFailed
    return kind(message, hint=first.hint or None, rows=rows)


def run_preflight(
    url: str | Target, env: Environment, *, confirmed: bool | str, min_transaction_age: float = 5.0
) -> list[CheckResult]:
    """Run every check against `url` for `env`; rows in a fixed order, password masked everywhere.

    `url` may be the Target the caller resolved (not parsed again). `confirmed` is where the
    confirmation came from (db/deploy/confirmation.py), "" or False for none; True is "confirmed" with
    no source, for callers that have not learnt to say one.
    """
    rows: list[CheckResult] = []
    url_row = _check_url(url, env)
    rows.append(url_row)
    url = url.url if isinstance(url, Target) else url
    conn = None
    if url_row.status != "fail":
        try:
            conn = connect(
                url,
                autocommit=True,
                connect_timeout=env.connect_timeout,
                application_name="schemaflow-preflight",
            )
            rows.append(CheckResult("server reachable", "pass", f"connected within {env.connect_timeout} s"))
        except SchemaflowError as exc:
            rows.append(
                CheckResult("server reachable", "fail", mask_url(exc.message), mask_url(exc.hint or ""))
            )
    else:
        rows.append(CheckResult("server reachable", "skip", "not checked: the URL is invalid"))
    if conn is None:
        why = "the URL is invalid" if url_row.status == "fail" else "the server is unreachable"
        rows += [CheckResult(name, "skip", f"not checked: {why}") for name in _SERVER_CHECKS]
    else:
        with conn:
            rows += _server_checks(conn, env, min_transaction_age)
    if env.backup == "pgbackrest":
        rows.append(_check_pgbackrest(env))
    rows.append(_check_confirmation(env, confirmed))
    return rows


def _check_url(url: str | Target, env: Environment) -> CheckResult:
    try:
        # A URL this process resolved keeps its source (the embedded cluster's stopped-server hint).
        target = url if isinstance(url, Target) else make_target(url, source_of(url) or "the run's URL", env)
    except SchemaflowError as exc:
        return CheckResult("url valid", "fail", mask_url(exc.message), mask_url(exc.hint or ""))
    if target.tls.warning:
        return CheckResult("url valid", "warn", target.describe(), target.tls.warning)
    return CheckResult("url valid", "pass", target.describe())


def _server_checks(conn: psycopg.Connection, env: Environment, min_age: float) -> list[CheckResult]:
    try:
        conn.execute(PREFLIGHT_SETTINGS_SQL)
        caps = _license_before_apply(conn, detect_capabilities(conn))
    except psycopg.Error as exc:
        reason = f"could not read server facts: {first_error_line(exc)}"
        return [CheckResult("postgresql version", "fail", reason)] + [
            CheckResult(name, "skip", "not checked: server facts unavailable") for name in _SERVER_CHECKS[1:]
        ]
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("postgresql version", lambda: _check_version(caps)),
        ("timescaledb", lambda: _check_timescaledb(caps, env)),
        ("not a read replica", lambda: _check_not_replica(caps)),
        ("create privilege", lambda: _check_privileges(conn, env, caps)),
        ("migration lock", lambda: _check_lock(conn)),
        ("blocking transactions", lambda: _check_blocking(conn, env, min_age)),
        ("one-off migrations", lambda: _check_one_offs(conn, env)),
    ]
    rows = []
    for name, check in checks:
        try:
            rows.append(check())
        except psycopg.Error as exc:  # a catalog query failed: report it as this check's row
            rows.append(CheckResult(name, "fail", f"check could not run: {first_error_line(exc)}"))
    return rows


def _check_one_offs(conn: psycopg.Connection, env: Environment) -> CheckResult:
    """An edited applied one-off or an out-of-order one stops the run here, before any backup."""
    try:
        files = discover_migrations(env.migrations_dir)
        status = version_status(conn, files, allow_out_of_order=env.allow_out_of_order)
    except SchemaflowError as exc:
        return CheckResult("one-off migrations", "fail", mask_url(exc.message), mask_url(exc.hint or ""))
    pending = ", ".join(f.name for f in status.pending[:5]) or "none pending"
    return CheckResult(
        "one-off migrations", "pass", f"{len(files)} file(s), {len(status.pending)} pending: {pending}"
    )


def _license_before_apply(conn: psycopg.Connection, caps: Capabilities) -> Capabilities:
    """Learn the license of a loadable but not yet created TimescaleDB in a rolled-back transaction.

    Safe only where the library is loadable (preloaded, or PGlite): a native server without the
    preload answers CREATE EXTENSION with FATAL. Nothing is kept either way.
    """
    if not caps.timescaledb_preloaded or caps.timescaledb_installed or caps.timescaledb_license:
        return caps
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    except psycopg.Error:
        return caps
    return dataclasses.replace(caps, timescaledb_license=(row[0] if row else None) or None)


def _check_version(caps: Capabilities) -> CheckResult:
    version = caps.server_version.split()[0]
    if caps.server_version_num < MIN_SERVER_VERSION_NUM:
        return CheckResult(
            "postgresql version",
            "fail",
            f"PostgreSQL {version} is older than 15",
            "upgrade the server to PostgreSQL 15 or newer",
        )
    return CheckResult("postgresql version", "pass", f"PostgreSQL {version}")


def _check_timescaledb(caps: Capabilities, env: Environment) -> CheckResult:
    bad = "fail" if env.requires_timescaledb else "warn"
    policy = f"environment {env.name!r} {env.timescaledb} TimescaleDB"
    if not caps.timescaledb_available:
        return CheckResult(
            "timescaledb",
            bad,
            f"TimescaleDB is not installed on this server ({policy})",
            "install TimescaleDB, or use a server that has it"
            if bad == "fail"
            else "the schema will be applied in plain PostgreSQL mode",
        )
    loaded = "preloaded"
    if not caps.timescaledb_preloaded:
        return CheckResult(
            "timescaledb",
            bad,
            f"TimescaleDB {caps.timescaledb_available} is installed but not in "
            f"shared_preload_libraries ({policy})",
            "add timescaledb to shared_preload_libraries and restart the server"
            if bad == "fail"
            else "the schema will be applied in plain PostgreSQL mode",
        )
    installed = (
        f"extension {caps.timescaledb_installed} installed"
        if caps.timescaledb_installed
        else f"extension not yet created (apply creates {caps.timescaledb_available})"
    )
    license_ = caps.timescaledb_license or "unknown"
    mode = "tsl" if license_ == "timescale" else "apache"
    note = (
        ""
        if mode == "tsl"
        else "; metrics_daily will be a table refreshed by its window (no continuous aggregates)"
    )
    return CheckResult(
        "timescaledb",
        "pass",
        f"available {caps.timescaledb_available}, {loaded}, {installed}, "
        f"license {license_} ({mode} mode{note})",
    )


def refuse_without_timescaledb(url: str, env: Environment) -> None:
    """CheckFailed when `env` requires TimescaleDB and the server cannot give it: the refusal migrate's
    preflight makes, for commands (plan) that would otherwise show a plain-PostgreSQL plan."""
    with connect(url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        row = _check_timescaledb(detect_capabilities(conn), env)
    if row.status == "fail":
        raise CheckFailed(
            f"{row.detail}; migrate refuses this server, so no plan is shown",
            hint=f"{row.hint}, or plan against the right server with --database-url",
        )


def _check_not_replica(caps: Capabilities) -> CheckResult:
    if caps.in_recovery:
        return CheckResult(
            "not a read replica",
            "fail",
            "the server is a read-only standby (pg_is_in_recovery() is true)",
            "point the URL at the primary server, not a replica",
        )
    return CheckResult("not a read replica", "pass", "pg_is_in_recovery() is false: this is a primary")


def _check_privileges(conn: psycopg.Connection, env: Environment, caps: Capabilities) -> CheckResult:
    row = conn.execute(PRIVILEGES_SQL, {"schema": env.target_schema}).fetchone()
    assert row is not None
    user, superuser, can_create_schema, can_create_in_schema = row
    name = "create privilege"
    if superuser:
        return CheckResult(name, "pass", f"role {user} is a superuser")
    if can_create_in_schema is False or (can_create_in_schema is None and not can_create_schema):
        return CheckResult(
            name,
            "fail",
            f"role {user} may not CREATE in schema {env.target_schema}",
            f"GRANT CREATE ON SCHEMA {env.target_schema} TO {user}, or use the owner role",
        )
    if not can_create_schema:
        return CheckResult(
            name,
            "fail",
            f"role {user} may not CREATE schemas in this database "
            "(schemaflow keeps its history in schema 'schemaflow')",
            f"GRANT CREATE ON DATABASE <this database> TO {user}",
        )
    if caps.timescaledb_available and not caps.timescaledb_installed:
        return CheckResult(
            name,
            "warn",
            f"role {user} may create in {env.target_schema}, but is not a superuser: "
            "CREATE EXTENSION timescaledb may be refused",
            "have a superuser run CREATE EXTENSION timescaledb first",
        )
    return CheckResult(
        name, "pass", f"role {user} may create in schema {env.target_schema} and this database"
    )


def _check_lock(conn: psycopg.Connection) -> CheckResult:
    holder = describe_lock_holder(conn)
    if holder:
        return CheckResult(
            "migration lock",
            "fail",
            f"another migration holds the lock: {holder}",
            "wait for it to finish; if it is stuck, SELECT pg_terminate_backend(pid)",
        )
    return CheckResult("migration lock", "pass", "free")


def _check_blocking(conn: psycopg.Connection, env: Environment, min_age: float) -> CheckResult:
    rows = conn.execute(BLOCKING_TRANSACTIONS_SQL, {"schema": env.target_schema, "age": min_age}).fetchall()
    if not rows:
        return CheckResult(
            "blocking transactions",
            "pass",
            f"no transaction older than {min_age:g} s holds a lock in {env.target_schema}",
        )
    listed = "; ".join(
        f"pid {pid} ({app or 'unnamed'}, user {user}, {state}, open {seconds} s) on {relations}"
        for pid, user, app, state, seconds, relations in rows
    )
    return CheckResult(
        "blocking transactions",
        "warn",
        f"{len(rows)} long transaction(s) hold locks: {listed}",
        f"apply waits at most lock_timeout={env.lock_timeout} per try; end them or wait "
        "(SELECT pg_terminate_backend(pid))",
    )


def _check_confirmation(env: Environment, confirmed: bool | str) -> CheckResult:
    if not env.require_confirmation:
        return CheckResult("confirmation", "pass", f"{NOT_REQUIRED} for {env.name}")
    if confirmed:
        if isinstance(confirmed, str) and confirmed.startswith("not needed"):  # dry run, plan only
            return CheckResult("confirmation", "pass", f"{confirmed} ({env.name})")
        if confirmed == APPROVAL_PENDING:  # nobody has approved anything yet: not a pass
            return CheckResult(
                "confirmation",
                "skip",
                f"not yet: a person approves the computed plan for {env.name} after preflight",
            )
        source = confirmed if isinstance(confirmed, str) else "a caller that named no source"
        return CheckResult("confirmation", "pass", f"confirmed for {env.name} by {source}")
    return CheckResult(
        "confirmation",
        "fail",
        f"environment {env.name!r} requires confirmation; nothing was changed",
        CONFIRMATION_HINT,
    )


def _check_pgbackrest(env: Environment) -> CheckResult:
    """backup = "pgbackrest": WAL archiving works and a base backup recent enough to replay from exists."""
    from db.backup.pgbackrest import PgBackRest  # only environments that use it pay for the import

    repo = PgBackRest.for_environment(env)
    try:
        repo.check()
        latest = repo.require_recent_backup(env.max_backup_age)
    except SchemaflowError as exc:
        return CheckResult("pgbackrest", "fail", mask_url(exc.message), mask_url(exc.hint or ""))
    return CheckResult(
        "pgbackrest",
        "pass",
        f"stanza {repo.stanza!r}: WAL archiving works; newest {latest.type} backup {latest.label} "
        f"finished {latest.stopped_at:%Y-%m-%d %H:%M} UTC (max_backup_age {env.max_backup_age})",
    )
