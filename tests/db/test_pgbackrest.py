"""backup = "pgbackrest": preflight's archive/backup-age check, a restore point through the backup step,
and a round trip to it on another port with real pgBackRest and a cluster archiving to a local repository."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cli.main import main
from db.backup.pgbackrest import PgBackRest, configure_local_repository, restore_point_name
from db.connection.environments import get_environment
from db.deploy.history import HistoryRecord, record_restore_point, record_run
from db.errors import ConfigError
from db.local.cluster import LocalCluster, free_port
from db.local.seed import SEEDED_TABLES, refresh_metrics_daily, seed_database
from db.run.preflight import run_preflight
from db.schema.master_file import read_schema

if not shutil.which("pgbackrest"):
    pytest.skip("pgbackrest is not installed (scripts/setup-system.sh installs it)", allow_module_level=True)

ENVIRONMENTS = """
[environments.pitr]
database_url_env = "SCHEMAFLOW_PITR_URL"
allow_insecure = true
require_backup = true
backup = "pgbackrest"
max_backup_age = "{max_age}"
pgbackrest_stanza = "{stanza}"
pgbackrest_config = "{config}"
backup_dir = "{root}/restores"

[environments.plain]
database_url_env = "SCHEMAFLOW_PITR_URL"
allow_insecure = true
"""


@dataclass(frozen=True)
class Archived:
    cluster: LocalCluster
    repo: PgBackRest
    root: Path
    url: str


def checksums(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every row of every seeded table."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in SEEDED_TABLES:
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} AS t"
            )
            row = conn.execute(query.format(sql.Identifier(table))).fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


@pytest.fixture(scope="module")
def archived() -> Iterator[Archived]:
    """A TimescaleDB cluster archiving WAL to its own pgBackRest repository, seeded, with a full backup."""
    root = Path(tempfile.mkdtemp(prefix="schemaflow-pgbr-"))
    root.chmod(0o755)  # the server and pgBackRest run as the postgres OS user when tests run as root
    port = free_port()
    stanza = f"t{port}"
    repo = configure_local_repository(root / "pgbackrest", root / "pgdata", port, stanza)
    cluster = LocalCluster(datadir=root / "pgdata", port=port, archive_command=repo.archive_command())
    try:
        cluster.start()
        cluster.ensure_database()
        url = cluster.url()
        with psycopg.connect(url) as conn:
            conn.execute("SET client_min_messages = warning")
            conn.execute(read_schema())
        seed_database(url, tenants=3, events=20_000, days=10, seed=3)
        with psycopg.connect(url, autocommit=True) as conn:
            refresh_metrics_daily(conn)  # as after any seed: health checks its freshness
        repo.stanza_create()
        repo.backup("full")
        yield Archived(cluster, repo, root, url)
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def environments(archived: Archived, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    def write(max_age: str = "1d", stanza: str | None = None) -> Path:
        path = tmp_path / "environments.toml"
        path.write_text(
            ENVIRONMENTS.format(
                max_age=max_age,
                stanza=stanza or archived.repo.stanza,
                config=archived.repo.config,
                root=tmp_path,
            )
        )
        return path

    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(write()))
    monkeypatch.setenv("SCHEMAFLOW_PITR_URL", archived.url)
    return tmp_path


def pgbackrest_row(url: str, env_name: str, path: Path | None = None) -> dict[str, str]:
    rows = run_preflight(url, get_environment(env_name, path), confirmed="test")
    found = [r.as_dict() for r in rows if r.name == "pgbackrest"]
    return found[0] if found else {}


def test_preflight_checks_archiving_and_the_age_of_the_newest_base_backup(
    archived: Archived, environments: Path
) -> None:
    row = pgbackrest_row(archived.url, "pitr")
    assert row["status"] == "pass", row
    assert "WAL archiving works" in row["detail"] and "full backup" in row["detail"]
    assert pgbackrest_row(archived.url, "plain") == {}  # a pg_dump environment has no such row

    time.sleep(2)
    too_old = environments / "old.toml"
    too_old.write_text(
        ENVIRONMENTS.format(
            max_age="1s", stanza=archived.repo.stanza, config=archived.repo.config, root=environments
        )
    )
    row = pgbackrest_row(archived.url, "pitr", too_old)
    assert row["status"] == "fail" and "more than max_backup_age = 1s" in row["detail"], row
    assert "--type=full" in row["hint"]

    wrong = environments / "wrong.toml"
    wrong.write_text(
        ENVIRONMENTS.format(
            max_age="1d", stanza="no_such_stanza", config=archived.repo.config, root=environments
        )
    )
    row = pgbackrest_row(archived.url, "pitr", wrong)
    assert row["status"] == "fail" and "WAL archiving to pgBackRest does not work" in row["detail"], row


def test_round_trip_to_a_restore_point_on_another_port(archived: Archived, environments: Path) -> None:
    from tasks.backup import backup

    at_point = checksums(archived.url)
    assert at_point["listener_events"][0] == 20_000

    info = backup.fn(archived.url, "pitr")  # the migrate flow's backup step
    name = info["restore_point"]
    assert name.startswith("schemaflow-pitr-") and info["strategy"] == "pgbackrest" and info["lsn"]
    assert f"--restore-point {name}" in info["restore_command"]

    with psycopg.connect(archived.url, autocommit=True) as conn:  # the damage a bad deploy does
        conn.execute(
            "DELETE FROM listener_events"
            " WHERE event_time > (SELECT min(event_time) + interval '3 days' FROM listener_events)"
        )
        conn.execute("UPDATE tenants SET name = 'damaged'")
        conn.execute("SELECT pg_switch_wal()")
    damaged = checksums(archived.url)
    assert (
        damaged["listener_events"] != at_point["listener_events"]
        and damaged["tenants"] != at_point["tenants"]
    )

    port = free_port()
    into = archived.root / f"restored-{port}"  # a folder the postgres OS user can reach
    restored = LocalCluster(datadir=into, port=port)
    try:
        code = main(
            ["restore", "--env", "pitr", "--restore-point", name, "--into", str(into), "--port", str(port)]
        )
        assert code == 0
        restored_url = archived.url.replace(f":{archived.cluster.port}/", f":{port}/")
        assert checksums(restored_url) == at_point
        with psycopg.connect(restored_url) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)  # promoted, writable
            assert conn.execute("SHOW archive_mode").fetchone() == (
                "off",
            )  # never pushes into the original's repo
    finally:
        restored.destroy()
    assert checksums(archived.url) == damaged  # the original was not touched


@pytest.mark.usefixtures("prefect_harness")
def test_migrate_makes_the_restore_point_named_for_its_flow_run(
    archived: Archived, environments: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.migrate import migrate

    result = migrate(environment="pitr", run_expectations=False)
    assert result["outcome"] == "success", result
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["migrate-pitr-backup"]))
        )
        assert artifacts, "the backup step published no artifact"
        flow_run = client.read_flow_run(artifacts[0].flow_run_id)  # type: ignore[arg-type]
    assert f"schemaflow-pitr-{flow_run.id}" in str(artifacts[0].data)
    with psycopg.connect(archived.url) as conn:
        row = conn.execute(
            "SELECT restore_point FROM schemaflow.migration_history WHERE id = %s", (result["history_id"],)
        ).fetchone()
    assert row is not None and row[0] == restore_point_name("pitr", str(flow_run.id)), row


def test_the_restore_point_is_recorded_on_the_runs_history_row(
    archived: Archived, environments: Path
) -> None:
    from datetime import UTC, datetime

    from tasks.backup import record_restore_point as record_for_flow

    now = datetime.now(UTC)
    with psycopg.connect(archived.url) as conn:
        run_id = record_run(
            conn, HistoryRecord(environment="pitr", checksum="x", schema_mode="apache", outcome="success",
                                objects_changed=0, attempts=1, started_at=now, finished_at=now)
        )  # fmt: skip
        record_restore_point(conn, run_id, "schemaflow-pitr-abc")
        row = conn.execute("SELECT restore_point FROM schemaflow.migration_history WHERE id = %s", (run_id,))
        assert row.fetchone() == ("schemaflow-pitr-abc",)
        conn.commit()
    record_for_flow(archived.url, get_environment("plain"), run_id, "schemaflow-pitr-def")
    with psycopg.connect(archived.url) as conn:
        row = conn.execute("SELECT restore_point FROM schemaflow.migration_history WHERE id = %s", (run_id,))
        assert row.fetchone() == ("schemaflow-pitr-def",)


def test_restore_point_names_fit_postgresqls_limit() -> None:
    run_id = "0b4f2f8e-7d43-4f4c-9a55-0d7c5a1c3f21"
    assert restore_point_name("production", run_id) == f"schemaflow-production-{run_id}"
    long = restore_point_name("eu-west-production-replica", run_id)
    assert len(long) <= 63 and long.startswith("schemaflow-eu-west-production-repli")


def test_an_unknown_backup_strategy_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "environments.toml"
    path.write_text('[environments.x]\nbackup = "tape"\n')
    with pytest.raises(ConfigError, match="backup = 'tape'"):
        get_environment("x", path)


def test_schemaflow_backup_makes_a_restore_point_in_a_pgbackrest_environment(
    archived: Archived, environments: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", "--env", "pitr"]) == 0
    out = capsys.readouterr().out
    assert "restore point schemaflow-pitr-" in out and "--restore-point schemaflow-pitr-" in out
    assert not list((environments / "restores").glob("*.dumpdir"))  # no pg_dump


def test_in_place_only_with_yes_and_then_the_server_is_back_at_the_point(
    archived: Archived, environments: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Last in the file: it rewinds the module's cluster."""
    from db.backup.pgbackrest import take_restore_point

    point = take_restore_point(archived.url, get_environment("pitr"))
    at_point = checksums(archived.url)
    with psycopg.connect(archived.url, autocommit=True) as conn:
        conn.execute("UPDATE tenants SET name = 'damaged in place'")
        conn.execute("SELECT pg_switch_wal()")
    damaged = checksums(archived.url)
    assert damaged != at_point

    assert main(["restore", "--env", "pitr", "--restore-point", point.name]) == 1  # no --yes, no terminal
    assert "needs confirmation; nothing changed" in capsys.readouterr().err
    assert checksums(archived.url) == damaged

    assert main(["restore", "--env", "pitr", "--restore-point", point.name, "--yes"]) == 0
    assert "restored pitr in place" in capsys.readouterr().out
    assert checksums(archived.url) == at_point
    with psycopg.connect(archived.url) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        assert conn.execute("SHOW archive_mode").fetchone() == ("on",)  # still archiving, on a new timeline
    archived.repo.check()  # and archiving still works end to end
