"""The managed-service lane: a database owner that is not a superuser, as Timescale Cloud, RDS, Azure
and Aiven hand it out (LOGIN CREATEROLE, owns `app`, no CREATEDB, no pg_read_all_settings, the
extensions created by the provider's superuser, a scratch database the admin made once).

Each command passes, or refuses before changing anything naming the privilege and the admin's
statement. A server of its own (with DDL statements logged) also counts what plan, drift and a no-op
migrate cost the target server: forced checkpoints and databases created or dropped.
"""

from __future__ import annotations

import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from db.backup.dump import backup_database, verify_backup
from db.catalog.drift import check_drift
from db.catalog.scratch import SCRATCH_DATABASE
from db.connection.environments import Environment
from db.deploy.health import run_health_checks
from db.errors import ConfigError
from db.local.cluster import LocalCluster, free_port
from db.local.seed import refresh_metrics_daily, seed_data
from db.plan.database import plan_database
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from db.versions.deploy import migration_files
from db.versions.rollback import rollback_to
from tests.db.versions.support import RENAME, RENAME_SQL, end_state_master

LIMITS = {"lock_timeout": "5s", "statement_timeout": "10min", "lock_retries": 1}
ONLINE_INDEX = (
    "\nCREATE INDEX IF NOT EXISTS idx_listener_events_managed"
    " ON public.listener_events (episode_id, event_time);\n"
)
# Each DDL statement the server runs is logged: CREATE/DROP DATABASE lines are what is counted.
DATABASE_DDL = ("CREATE DATABASE", "DROP DATABASE")


@dataclass(frozen=True)
class Managed:
    cluster: LocalCluster
    owner: str
    owner_url: str  # the owner on `app`
    scratch: str  # the scratch database the admin created for it


@pytest.fixture(scope="module")
def server() -> Iterator[LocalCluster]:
    """A server of this module's own, so its checkpoint counter and DDL log are this module's."""
    base = Path(tempfile.mkdtemp(prefix="schemaflow-test-managed-"))
    base.chmod(0o755)
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as su:
        su.execute("ALTER SYSTEM SET log_statement = 'ddl'")
        su.execute("SELECT pg_reload_conf()")
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def managed(server: LocalCluster) -> Managed:
    """What a provider hands out: the owner role, its database with the extensions, a scratch database."""
    owner, password = f"owner_{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(12)
    app, scratch = f"app_{uuid.uuid4().hex[:6]}", f"app_scratch_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(server.url("postgres"), autocommit=True) as su:
        su.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE NOCREATEDB PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)
            )
        )
        for name in (app, scratch):
            su.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
            )
    with psycopg.connect(server.url(app), autocommit=True) as su:
        su.execute("CREATE EXTENSION timescaledb; CREATE EXTENSION pgcrypto")
    with psycopg.connect(server.url("postgres")) as su:  # what the role may not do
        row = su.execute(
            "SELECT rolsuper, rolcreatedb, pg_has_role(%s, 'pg_read_all_settings', 'MEMBER') "
            "FROM pg_roles WHERE rolname = %s",
            (owner, owner),
        ).fetchone()
    assert row == (False, False, False)
    return Managed(server, owner, make_conninfo(server.url(app), user=owner, password=password), scratch)


def _environment(tmp: Path, name: str = "managed") -> Environment:
    return Environment(
        name=name, description="", database_url_env=None, secret_block=None, local=False,
        require_backup=True, require_confirmation=False, timescaledb="required", lock_timeout="5s",
        statement_timeout="10min", lock_retries=1, connect_timeout=10, backup_dir=tmp / "backups",
        keep_backups=2, allow_insecure=True, report_log=tmp / "report.log",
    )  # fmt: skip


def _migrate(m: Managed, text: str, migrations_dir: Path | None = None, allow: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return apply_schema(
        m.owner_url, text, environment="managed", scratch_url=m.scratch, migrations_dir=migrations_dir,
        allow_hazards=allow, **LIMITS,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.slow
def test_managed_service_owner_runs_every_command(managed: Managed, tmp_path: Path) -> None:
    clock, seconds = time.monotonic(), {}
    empty_dir = tmp_path / "no-one-offs"
    empty_dir.mkdir()
    text = read_schema()

    fresh = _migrate(managed, text, empty_dir)
    assert fresh.outcome == "committed" and fresh.method == "file", fresh
    with psycopg.connect(managed.owner_url) as conn:
        seed_data(conn, tenants=2, events=3000, days=5, seed=3)
        conn.commit()
        conn.autocommit = True
        refresh_metrics_daily(conn)
    seconds["fresh migrate + seed"] = time.monotonic() - clock

    clock = time.monotonic()
    plan = plan_database(managed.owner_url, text, scratch_url=managed.scratch)
    assert plan.mode == "apache"  # the live database's mode, though the role cannot see the preload
    assert plan.is_empty, [s.sql for s in plan.steps]
    assert not [note for note in plan.notes if "EXTENSION" in note]  # nothing withheld either
    seconds["plan"] = time.monotonic() - clock

    clock = time.monotonic()
    noop = _migrate(managed, text, empty_dir)
    assert noop.outcome == "committed" and noop.statements == 0 and not noop.changes
    seconds["no-op migrate"] = time.monotonic() - clock

    clock = time.monotonic()
    report = check_drift(managed.owner_url, scratch_url=managed.scratch)
    assert report.differences == [], report.rows()
    assert managed.scratch in report.scratch
    seconds["drift"] = time.monotonic() - clock

    clock = time.monotonic()
    with psycopg.connect(managed.owner_url, autocommit=True) as conn:
        checks = {c.name: c for c in run_health_checks(conn)}
    assert [c.name for c in checks.values() if c.status == "fail"] == []
    assert checks["app role isolation"].status == "pass"
    warning = checks["timescaledb catalog readable"]
    assert warning.status == "warn" and "a superuser runs: REVOKE SELECT ON" in warning.fix
    seconds["health"] = time.monotonic() - clock

    clock = time.monotonic()
    # Built chunk by chunk, it blocks writes to one chunk at a time: a hazard a person allows.
    indexed = _migrate(managed, text + ONLINE_INDEX, empty_dir, allow=("blocks_writes",))
    assert indexed.outcome == "committed" and indexed.statements == 1, indexed
    assert "idx_listener_events_managed" in indexed.steps[0]["sql"]
    assert plan_database(managed.owner_url, text + ONLINE_INDEX, scratch_url=managed.scratch).is_empty
    seconds["online hypertable index"] = time.monotonic() - clock

    clock = time.monotonic()
    backup = backup_database(managed.owner_url, _environment(tmp_path))
    assert verify_backup(backup.path) > 0
    seconds["backup (pg_dump)"] = time.monotonic() - clock

    clock = time.monotonic()
    one_offs = tmp_path / "one-offs"
    one_offs.mkdir()
    (one_offs / RENAME).write_text(RENAME_SQL)
    renamed = end_state_master(retype=False, backfill=False) + ONLINE_INDEX
    ran = _migrate(managed, renamed, one_offs)
    assert ran.outcome == "committed", ran
    with psycopg.connect(managed.owner_url) as conn:
        assert _column(conn, "media_url") and not _column(conn, "audio_url")
    undone = rollback_to(managed.owner_url, migration_files(one_offs), "0", environment="managed")
    assert undone.undone, undone
    with psycopg.connect(managed.owner_url) as conn:
        assert _column(conn, "audio_url") and not _column(conn, "media_url")
    seconds["one-off + rollback"] = time.monotonic() - clock
    print(
        "\nmanaged-service lane (non-superuser owner): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
    )


def _column(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.episodes'::regclass AND attname = %s "
        "AND NOT attisdropped",
        (name,),
    ).fetchone()
    return bool(row and row[0])


@pytest.mark.slow
def test_without_a_scratch_database_the_owner_is_told_the_privilege_before_any_change(
    managed: Managed,
) -> None:
    with psycopg.connect(managed.owner_url) as conn:
        before = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchone()
    with pytest.raises(ConfigError) as info:
        _migrate(Managed(managed.cluster, managed.owner, managed.owner_url, ""), read_schema())
    assert "lacks CREATEDB" in info.value.message
    assert f"CREATE DATABASE {SCRATCH_DATABASE} OWNER {managed.owner}" in (info.value.hint or "")
    with psycopg.connect(managed.owner_url) as conn:
        after = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchone()
        assert before == after
        assert not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (SCRATCH_DATABASE,)
        ).fetchone()


@pytest.mark.slow
def test_plan_drift_and_noop_migrate_force_no_checkpoint_and_create_no_database(
    server: LocalCluster, tmp_path: Path
) -> None:
    """Staging as documented (no scratch_url: schemaflow_scratch on its server, made by the first run)."""
    staging = server.url(f"staging_{uuid.uuid4().hex[:6]}")
    with psycopg.connect(server.url("postgres"), autocommit=True) as su:
        su.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(staging.rsplit("/", 1)[1])))
    text = read_schema()
    empty_dir = tmp_path / "no-one-offs"
    empty_dir.mkdir()
    noop = {"environment": "staging", "migrations_dir": empty_dir, **LIMITS}
    apply_schema(staging, text, **noop)  # type: ignore[arg-type]
    plan_database(staging, text)  # the first run on this server creates the scratch database, once
    log_start, checkpoints = server.logfile.stat().st_size, _checkpoints_requested(server)
    clock = time.monotonic()
    assert plan_database(staging, text).is_empty
    assert not check_drift(staging, schema_sql=text).differences
    assert apply_schema(staging, text, **noop).statements == 0  # type: ignore[arg-type]
    seconds = time.monotonic() - clock
    with server.logfile.open("rb") as log:
        log.seek(log_start)
        ddl = [
            line
            for line in log.read().decode(errors="replace").splitlines()
            if any(s in line for s in DATABASE_DDL)
        ]
    forced = _checkpoints_requested(server) - checkpoints
    print(
        f"\nplan + drift + no-op migrate: {seconds:.1f} s, {forced} forced checkpoint(s), "
        f"{len(ddl)} CREATE/DROP DATABASE"
    )
    assert (forced, ddl) == (0, [])


def _checkpoints_requested(server: LocalCluster) -> int:
    with psycopg.connect(server.url("postgres")) as su:
        row = su.execute("SELECT checkpoints_req FROM pg_stat_bgwriter").fetchone()
    assert row is not None
    return int(row[0])
