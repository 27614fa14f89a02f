"""Schema health: is the database what the master file says? Fast catalog checks, one row per concern.

The expected objects come from the master file (db/schema/expected.py), so adding a table, column,
index or foreign key there is enough for health to check it. Every check is a catalog query; the
whole run takes well under a second. Failed checks say what is missing and how to fix it. Checks
whose failure means one tenant can reach another's rows (row-level security off, a way into
TimescaleDB's chunks or catalog, a single-column tenant key) carry severity "high".
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from db.catalog.capabilities import detect_capabilities
from db.catalog.queries import NO_JIT_SQL
from db.deploy.health_check import HealthCheck
from db.deploy.metrics import DEFAULT_SCHEDULE_LAG, DEFAULT_WINDOW
from db.deploy.retention_health import check_retention
from db.plan.quoting import quote_ident
from db.schema.expected import METRICS_DAILY, METRICS_DAILY_COLUMNS, SCHEMA, ExpectedSchema, expected_schema

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
MIGRATE_FIX = "run `schemaflow migrate --env ENV` to re-apply the master file"
APP_ROLE = "podcast_app"
HIGH = "high"
# Freshness against the refresh window (db/deploy/metrics.py): the raw events looked at are those
# inside the window (older ones are outside every refresh), and the newest bucket must cover the
# newest of them as of one schedule lag ago (a refresh every 15 minutes, one late run allowed). So
# the newest bucket is never older than window + schedule lag.
DEFAULT_REFRESH_LAG = DEFAULT_SCHEDULE_LAG
FRESHNESS_LOOKBACK = DEFAULT_WINDOW
_MAX_LISTED = 8
# Stale: no bucket, or the newest bucket is older than the UTC day of (newest event - lag): an event
# that arrived more than one schedule lag ago is not in metrics_daily yet.
STALE_SQL = """
SELECT %(bucket)s::timestamptz IS NULL
    OR %(bucket)s::timestamptz < date_trunc('day', %(event)s::timestamptz - %(lag)s::interval, 'UTC')
"""


@cache
def health_sql(name: str) -> str:
    """The text of db/sql/health_<name>.sql."""
    return (SQL_DIR / f"health_{name}.sql").read_text(encoding="utf-8")


def run_health_checks(
    conn: psycopg.Connection,
    expected: ExpectedSchema | None = None,
    refresh_lag: str = DEFAULT_REFRESH_LAG,
    environment: str | None = None,
) -> list[HealthCheck]:
    """Check tables, columns, keys, indexes, hypertables, metrics_daily and RLS (catalog queries only).

    With `environment`, each fix names it (`--env staging`), so it can be pasted as it is.
    """
    expected = expected or expected_schema()
    mode = detect_capabilities(conn).mode
    checks = [
        *_check_tables_and_columns(conn, expected),
        _check_primary_keys(conn, expected),
        _check_indexes(conn, expected, mode),
        _check_foreign_keys(conn, expected),
        _check_hypertables(conn, expected, mode),
        *_check_metrics_daily(conn, mode, refresh_lag),
        _check_row_level_security(conn, expected),
        *_check_app_role_reach(conn, expected, mode),
        _check_tenant_keys(conn),
        *check_retention(conn, mode),
    ]
    return [named_fix(check, environment) for check in checks] if environment else checks


def named_fix(check: HealthCheck, environment: str) -> HealthCheck:
    """`check` with its fix's ENV placeholders replaced by `environment`'s name."""
    fix = check.fix.replace("--env ENV", f"--env {environment}")
    for job in ("refresh-metrics", "enforce-retention"):
        fix = fix.replace(f"{job}-ENV deployment", f"{job}/{environment} deployment")
    return replace(check, fix=fix)


def failed(checks: list[HealthCheck]) -> list[HealthCheck]:
    """The checks that failed."""
    return [c for c in checks if not c.ok]


def _rows(conn: psycopg.Connection, name: str, params: dict[str, Any]) -> list[tuple]:
    # A savepoint (or a short transaction in autocommit) so one failing query leaves the rest usable.
    with conn.transaction():
        conn.execute(NO_JIT_SQL)
        return conn.execute(health_sql(name), {"schema": SCHEMA, **params}).fetchall()


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _check_tables_and_columns(conn: psycopg.Connection, expected: ExpectedSchema) -> list[HealthCheck]:
    columns: list[tuple[str, str, str | None, bool]] = [
        (t.name, c.name, c.type_name, c.not_null) for t in expected.tables.values() for c in t.columns
    ]
    # metrics_daily's columns are fixed by contract; its types depend on the mode, so only names count.
    columns += [(METRICS_DAILY, name, None, False) for name in METRICS_DAILY_COLUMNS]
    tables, names, types, not_null = (list(x) for x in zip(*columns, strict=True))
    rows = _rows(conn, "columns", {"tables": tables, "columns": names, "types": types, "not_null": not_null})
    missing_tables = sorted({r[0] for r in rows if not r[4]})
    missing_columns, wrong_types, nullable = [], [], []
    for (
        table,
        column,
        type_name,
        want_not_null,
        table_exists,
        column_exists,
        actual,
        type_ok,
        is_not_null,
    ) in rows:
        if not table_exists:
            continue
        if not column_exists:
            missing_columns.append(f"{table}.{column}")
        elif not type_ok:
            wrong_types.append(f"{table}.{column} is {actual}, expected {type_name}")
        elif want_not_null and not is_not_null:
            nullable.append(f"{table}.{column}")
    table_count = len(expected.tables) + 1
    checks = [
        HealthCheck("core tables", "fail", f"missing: {_listing(missing_tables)}", MIGRATE_FIX)
        if missing_tables
        else HealthCheck("core tables", "pass", f"all {table_count} tables and views present")
    ]
    problems = (
        [f"missing {c}" for c in missing_columns] + wrong_types + [f"{c} allows NULL" for c in nullable]
    )
    if problems:
        fix = (
            MIGRATE_FIX
            if missing_columns
            else (
                "a type or NULL change needs a reviewed one-off migration (the master file never alters "
                "existing columns); for NULLs: ALTER TABLE ... ALTER COLUMN ... SET NOT NULL"
            )
        )
        checks.append(HealthCheck("columns", "fail", _listing(problems), fix))
    else:
        checks.append(
            HealthCheck("columns", "pass", f"{len(rows)} columns with the expected types and NOT NULL")
        )
    return checks


def _check_primary_keys(conn: psycopg.Connection, expected: ExpectedSchema) -> HealthCheck:
    tables = [t.name for t in expected.tables.values() if t.primary_key]
    missing = [r[0] for r in _rows(conn, "primary_keys", {"tables": tables})]
    if missing:
        return HealthCheck(
            "primary keys",
            "fail",
            f"no valid primary key on: {_listing(missing)}",
            "restore the key with ALTER TABLE ... ADD PRIMARY KEY (see the master file)",
        )
    return HealthCheck("primary keys", "pass", f"{len(tables)} tables have their primary key")


def _check_indexes(conn: psycopg.Connection, expected: ExpectedSchema, mode: str) -> HealthCheck:
    rows = _rows(conn, "indexes", {"names": list(expected.indexes)})
    missing = [name for name, exists, _valid, is_expected in rows if is_expected and not exists]
    invalid = [name for name, exists, valid, _expected in rows if exists and not valid]
    if missing or invalid:
        parts = [f"missing: {_listing(missing)}"] if missing else []
        parts += [f"INVALID (a failed build): {_listing(invalid)}"] if invalid else []
        fix = MIGRATE_FIX if missing else ""
        if invalid:
            fix = (fix + "; " if fix else "") + _invalid_index_fix(conn, invalid, mode)
        return HealthCheck("indexes", "fail", "; ".join(parts), fix)
    return HealthCheck("indexes", "pass", f"{len(expected.indexes)} indexes present and valid")


def _invalid_index_fix(conn: psycopg.Connection, invalid: list[str], mode: str) -> str:
    """How to rebuild the first invalid index, in a form its table accepts."""
    found = _rows(conn, "invalid_indexes", {"names": invalid}) if mode != "plain" else []
    if found and found[0][2]:
        index, table, _ = found[0]
        # TimescaleDB refuses REINDEX INDEX (CONCURRENTLY or not) on a hypertable, and REINDEX TABLE
        # rebuilds the chunks' copies but leaves the hypertable's own index invalid.
        return (
            f"{index} is on hypertable {table}: DROP INDEX {index}; then {MIGRATE_FIX} (it builds the index "
            "again chunk by chunk, without blocking writes)"
        )
    index = found[0][0] if found else f"{quote_ident(SCHEMA)}.{quote_ident(invalid[0])}"
    return f"rebuild with REINDEX INDEX CONCURRENTLY {index} (or drop it and migrate)"


def _check_foreign_keys(conn: psycopg.Connection, expected: ExpectedSchema) -> HealthCheck:
    fks = expected.foreign_keys
    params = {
        "tables": [f.table for f in fks],
        "columns": [",".join(f.columns) for f in fks],
        "ref_tables": [f.ref_table for f in fks],
    }
    rows = _rows(conn, "foreign_keys", params)
    missing = [
        f"{t}({c}) -> {r}" for t, c, r, name, _validated, is_expected in rows if is_expected and not name
    ]
    unvalidated = [(t, name) for t, _c, _r, name, validated, _e in rows if name and not validated]
    if missing or unvalidated:
        parts = [f"missing: {_listing(missing)}"] if missing else []
        parts += [f"NOT VALID: {_listing([f'{t}.{n}' for t, n in unvalidated])}"] if unvalidated else []
        fix = MIGRATE_FIX if missing else ""
        if unvalidated:
            table, name = unvalidated[0]
            fix = (fix + "; " if fix else "") + f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}"
        return HealthCheck("foreign keys", "fail", "; ".join(parts), fix)
    return HealthCheck("foreign keys", "pass", f"{len(fks)} foreign keys present and validated")


def _check_hypertables(conn: psycopg.Connection, expected: ExpectedSchema, mode: str) -> HealthCheck:
    if mode == "plain":
        return HealthCheck("hypertables", "skip", "not applicable: TimescaleDB is not loaded (plain mode)")
    hypertables = list(expected.hypertables.values())
    params = {
        "tables": [h.table for h in hypertables],
        "columns": [h.time_column for h in hypertables],
        "intervals": [h.chunk_interval for h in hypertables],
    }
    problems = []
    for table, column, interval, actual_column, actual_interval, interval_ok in _rows(
        conn, "hypertables", params
    ):
        if actual_column is None:
            problems.append(f"{table} is not a hypertable")
        elif actual_column != column:
            problems.append(f"{table} is partitioned on {actual_column}, expected {column}")
        elif not interval_ok:
            problems.append(f"{table} has {actual_interval} chunks, expected {interval}")
    if problems:
        fix = (
            f"{MIGRATE_FIX} (it converts plain tables with migrate_data); for a wrong interval: "
            "SELECT set_chunk_time_interval('TABLE', INTERVAL '...')"
        )
        return HealthCheck("hypertables", "fail", "; ".join(problems), fix)
    described = ", ".join(f"{h.table}({h.time_column}, {h.chunk_interval})" for h in hypertables)
    return HealthCheck("hypertables", "pass", described)


def _check_metrics_daily(conn: psycopg.Connection, mode: str, refresh_lag: str) -> list[HealthCheck]:
    name = "metrics_daily"
    rows = _rows(conn, "metrics_daily", {})
    if not rows:
        return [HealthCheck(name, "fail", "metrics_daily does not exist", MIGRATE_FIX)]
    relkind, _populated, has_unique = rows[0]
    if mode == "tsl":
        cagg = _rows(conn, "cagg", {})
        if not cagg:
            return [
                HealthCheck(
                    name,
                    "fail",
                    "metrics_daily is not a continuous aggregate on this TSL server",
                    f"{MIGRATE_FIX} (it upgrades the materialized view)",
                )
            ]
        if not cagg[0][2]:
            return [HealthCheck(name, "fail", "metrics_daily has no refresh policy", MIGRATE_FIX)]
        form = "continuous aggregate with a refresh policy"
    else:
        if relkind == "m":
            return [
                HealthCheck(
                    name,
                    "fail",
                    "metrics_daily is still a materialized view (refreshed whole, or never)",
                    f"{MIGRATE_FIX} (it turns the view into the incrementally refreshed table, "
                    "keeping every bucket)",
                )
            ]
        if relkind != "r":
            return [
                HealthCheck(name, "fail", f"metrics_daily is not a table (relkind {relkind})", MIGRATE_FIX)
            ]
        if not has_unique:
            return [
                HealthCheck(
                    name,
                    "fail",
                    "metrics_daily has no valid unique index (refresh_metrics_daily() upserts on it)",
                    MIGRATE_FIX,
                )
            ]
        form = "table refreshed inside its window"
    return [HealthCheck(name, "pass", f"{form} ({mode} mode)"), _check_freshness(conn, mode, refresh_lag)]


def _check_freshness(conn: psycopg.Connection, mode: str, refresh_lag: str) -> HealthCheck:
    name = "metrics_daily freshness"
    try:
        with conn.transaction():
            conn.execute(NO_JIT_SQL)
            query = sql.SQL(health_sql("freshness")).format(lookback=sql.Literal(FRESHNESS_LOOKBACK))
            newest_event, newest_bucket = conn.execute(query).fetchall()[0]
    except psycopg.Error as exc:
        return HealthCheck(
            name, "fail", f"could not read metrics_daily: {exc.diag.message_primary}", MIGRATE_FIX
        )
    if newest_event is None:
        return HealthCheck(
            name,
            "pass",
            f"no raw events in the refresh window ({FRESHNESS_LOOKBACK}): nothing to be fresh for",
        )
    stale = conn.execute(
        STALE_SQL, {"bucket": newest_bucket, "event": newest_event, "lag": refresh_lag}
    ).fetchone()
    if stale and stale[0]:
        fix = (
            "CALL refresh_continuous_aggregate('public.metrics_daily', NULL, NULL) and check the policy's job"
            if mode == "tsl"
            else "schemaflow refresh-metrics --env ENV (and check the schedule of the refresh-metrics-ENV "
            "deployment)"
        )
        return HealthCheck(
            name,
            "fail",
            f"newest bucket {newest_bucket} does not cover the newest event {newest_event} "
            f"as of {refresh_lag} ago (refresh window {FRESHNESS_LOOKBACK})",
            fix,
        )
    return HealthCheck(name, "pass", f"newest bucket {newest_bucket}, newest event {newest_event}")


def _check_row_level_security(conn: psycopg.Connection, expected: ExpectedSchema) -> HealthCheck:
    tables = sorted(expected.rls_tables)
    off = [t for t, enabled, exists in _rows(conn, "rls", {"tables": tables}) if exists and not enabled]
    unprotected = sorted(set(expected.tenant_scoped()) - expected.rls_tables)
    if off:
        enable = "; ".join(f"ALTER TABLE {SCHEMA}.{t} ENABLE ROW LEVEL SECURITY" for t in off)
        return HealthCheck(
            "row level security",
            "fail",
            f"RLS disabled on: {_listing(off)}",
            f"{enable} (or {MIGRATE_FIX})",
            HIGH,
        )
    detail = f"enabled on {len(tables)} tenant tables"
    if unprotected:
        detail += f"; the master file leaves {_listing(unprotected)} without RLS"
    return HealthCheck("row level security", "pass", detail, severity=HIGH)


def _check_app_role_reach(conn: psycopg.Connection, expected: ExpectedSchema, mode: str) -> list[HealthCheck]:
    """No privilege of the application role on chunks or TimescaleDB internals, nor one new chunks copy.

    What only a superuser can close (TimescaleDB's catalog metadata, readable by PUBLIC by default
    and owned by the provider's role on a managed service) is a warning with that superuser's fix:
    it holds no tenant rows, and a deploy cannot change it.
    """
    name = "app role isolation"
    params = {"app_role": APP_ROLE, "tables": sorted(expected.hypertables)}
    table_grants = _rows(conn, "hypertable_grants", params)
    found = _rows(conn, "isolation", params) if mode != "plain" else []
    # (relation, roles, privileges, public_reads, metadata, revocable)
    only_superuser = [r for r in found if r[3] and r[4] and r[2] == "SELECT" and not r[5]]
    reachable = [r for r in found if r not in only_superuser]
    problems, fixes = [], []
    for table, grantees, privileges in table_grants:
        problems.append(f"table-level {privileges} for {grantees} on {table} (every new chunk copies it)")
        fixes.append(f"REVOKE ALL ON TABLE {SCHEMA}.{table} FROM PUBLIC, {APP_ROLE}")
    if table_grants:
        fixes.append(f"then {MIGRATE_FIX} (it grants the columns again and closes the chunks)")
    if reachable:
        problems.append(
            f"{len(reachable)} TimescaleDB relation(s) reachable: "
            + _listing([f"{rel} ({privs} for {roles})" for rel, roles, privs, *_ in reachable])
        )
        roles = sorted({role for _, listed, *_ in reachable for role in listed.split(", ")} | {APP_ROLE})
        fixes.append(
            f"REVOKE ALL ON {', '.join(rel for rel, *_ in reachable)} FROM PUBLIC, {', '.join(roles)}"
            " (as the relations' owner: the catalog belongs to the extension's owner)"
        )
        catalog = [rel for rel, _, _, public_reads, *_ in reachable if public_reads]
        if catalog:  # what PUBLIC read by default, the database owner keeps reading (hypertable_size())
            fixes.append(f"GRANT SELECT ON {', '.join(catalog)} TO pg_database_owner")
    checks = [_catalog_metadata_warning(only_superuser)] if only_superuser else []
    if problems:
        return [HealthCheck(name, "fail", "; ".join(problems), "; ".join(fixes), HIGH), *checks]
    scope = "chunks and TimescaleDB internals refused" if mode != "plain" else "no TimescaleDB here"
    if only_superuser:
        scope = "chunks refused; TimescaleDB's catalog metadata: see the warning below"
    detail = f"{APP_ROLE} holds column grants only on the event tables; {scope}"
    return [HealthCheck(name, "pass", detail, severity=HIGH), *checks]


def _catalog_metadata_warning(rows: list[tuple]) -> HealthCheck:
    relations = [rel for rel, *_ in rows]
    listed = ", ".join(relations)
    return HealthCheck(
        "timescaledb catalog readable",
        "warn",
        f"{len(relations)} TimescaleDB catalog relation(s) readable by PUBLIC (chunk and job metadata, "
        f"no tenant rows): {_listing(relations)}; only their owner (a superuser here) can revoke that",
        f"a superuser runs: REVOKE SELECT ON {listed} FROM PUBLIC; GRANT SELECT ON {listed} "
        "TO pg_database_owner",
    )


def _check_tenant_keys(conn: psycopg.Connection) -> HealthCheck:
    """Every key between tenant-owned tables pairs tenant_id, so no row points at another tenant's parent."""
    name = "tenant foreign keys"
    loose = _rows(conn, "tenant_keys", {})
    if loose:
        listed = _listing([f"{t}.{k} ({cols}) -> {ref}" for t, k, ref, cols in loose])
        drops = "; ".join(f"ALTER TABLE {SCHEMA}.{t} DROP CONSTRAINT {k}" for t, k, _ref, _cols in loose)
        return HealthCheck(
            name,
            "fail",
            f"keys between tenant tables without tenant_id (a row may point at another tenant's): {listed}",
            f"{drops}; then {MIGRATE_FIX} (it adds the composite (tenant_id, ...) keys)",
            HIGH,
        )
    return HealthCheck(name, "pass", "every key between tenant tables includes tenant_id", severity=HIGH)
