"""`--json` on every command that reports: stdout is one JSON document a script can parse, also on error.

One database with the master schema and a little seed data serves every command (module scope): the
commands read it, migrate finds nothing to change, backup dumps it and restore puts that dump back
into a new database beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.deploy.apply import apply_master_schema
from db.local.cluster import LocalCluster
from db.local.seed import refresh_metrics_daily, seed_database
from tests.conftest import create_database, drop_database
from tests.support.environments import MIGRATE_ENVIRONMENTS

Args = Callable[[Path], list[str]]


def _restore_args(root: Path) -> list[str]:
    """restore --into a new database, of the backup the `backup` case (or this one) made."""
    backups = sorted((root / "backups" / "dev").glob("*.dumpdir"))
    if not backups:
        assert main(["backup", "--env", "dev", "--json"]) == 0
        backups = sorted((root / "backups" / "dev").glob("*.dumpdir"))
    return ["restore", "--env", "dev", "--backup", str(backups[-1]), "--into", "json_restored", "--json"]


# command -> (argv, expected exit code, a key its JSON must have)
COMMANDS: dict[str, tuple[Args, int, str]] = {
    "migrate": (lambda _: ["migrate", "--env", "dev", "--skip-expectations", "--json"], 0, "outcome"),
    "history": (lambda _: ["history", "--env", "dev", "--json"], 0, "runs"),
    "lint": (lambda _: ["lint", "--json"], 0, "findings"),
    "health": (lambda _: ["health", "--env", "dev", "--no-gx", "--json"], 0, "checks"),
    "drift": (lambda _: ["drift", "--env", "dev", "--json"], 0, "has_drift"),
    "plan": (lambda _: ["plan", "--env", "dev", "--json"], 0, "checksum"),
    "backup": (lambda _: ["backup", "--env", "dev", "--json"], 0, "size_bytes"),
    "restore": (_restore_args, 0, "database"),
    "seed-data": (
        lambda _: ["seed-data", "--env", "dev", "--tenants", "1", "--events", "500", "--seed", "7", "--json"],
        0,
        "rows",
    ),
    "secrets list": (lambda _: ["secrets", "list", "--json"], 0, "blocks"),
    "local-db status": (lambda _: ["local-db", "status", "--json"], 3, "running"),
    "an error": (lambda _: ["history", "--env", "nowhere", "--json"], 2, "error"),
}


@pytest.fixture(scope="module")
def shared_db(pg_cluster: LocalCluster) -> Iterator[str]:
    url = create_database(pg_cluster, "json")
    apply_master_schema(url)
    seed_database(url, tenants=1, events=2_000, days=3, workers=1)
    with psycopg.connect(url, autocommit=True) as conn:
        refresh_metrics_daily(conn)  # else verification rightly fails on a stale aggregate
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("json-cli")


@pytest.fixture
def environments(root: Path, shared_db: str, prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    from prefect.settings import PREFECT_API_URL

    path = root / "environments.toml"
    path.write_text(MIGRATE_ENVIRONMENTS.format(root=root))
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    monkeypatch.setenv("SCHEMAFLOW_TEST_URL", shared_db)
    monkeypatch.setenv("SCHEMAFLOW_LOCAL_DIR", str(root / "no-local-cluster"))  # never the developer's
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    monkeypatch.delenv("SKIP_CONFIRMATION", raising=False)
    return root


@pytest.mark.parametrize("command", list(COMMANDS))
def test_json_of_every_command_parses(
    command: str, environments: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, expected_code, key = COMMANDS[command]
    argv = args(environments)
    capsys.readouterr()  # what a setup step printed is not this command's output
    code = main(argv)
    printed = capsys.readouterr().out
    payload = json.loads(printed)  # the whole of stdout: no progress line, no banner around it
    assert code == expected_code, printed
    assert key in payload, payload
    assert "\x1b" not in printed
