"""Credentials fail closed: an environment with a Secret block never falls back to DATABASE_URL.

A stray DATABASE_URL points at a real second database. Every command that works on an environment
must stop with the real reason (no Prefect server, the server unreachable, the block missing) and the
command that fixes it, and leave that database exactly as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from db.local.cluster import free_port

SCHEMAFLOW = Path(sys.executable).parent / "schemaflow"
BLOCK = "sf-test-absent-block"
ENVIRONMENTS = f"""
[defaults]
database_url_env = "DATABASE_URL"
backup_dir = "{{root}}/backups"
report_log = "{{root}}/logs/migrate-{{{{name}}}}.log"
allow_insecure = true
timescaledb = "preferred"

[environments.production]
secret_block = "{BLOCK}"
require_confirmation = true
"""
COMMANDS = {
    "migrate": ["migrate", "--env", "production", "--yes"],
    "backup": ["backup", "--env", "production"],
    "history": ["history", "--env", "production"],
    "health": ["health", "--env", "production", "--no-gx"],
    "restore": ["restore", "--env", "production", "--backup", "/nonexistent/backup.dumpdir", "--yes"],
}


def fingerprint(url: str) -> tuple[int, int, bool]:
    """(tables, schemas, has a schemaflow schema) of the database: what any touch would change."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p', 'v', 'm')"
            "        AND relnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')),"
            "       (SELECT count(*) FROM pg_namespace),"
            "       EXISTS (SELECT FROM pg_namespace WHERE nspname = 'schemaflow')"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), bool(row[2])


@pytest.fixture
def stray(tmp_path: Path, db_url: str) -> dict[str, str]:
    """A process environment whose DATABASE_URL is a real, untouched second database."""
    path = tmp_path / "environments.toml"
    path.write_text(ENVIRONMENTS.format(root=tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "SKIP_CONFIRMATION"}
    env.pop("PREFECT_API_URL", None)
    return {
        **env,
        "SCHEMAFLOW_ENVIRONMENTS": str(path),
        # No profile naming a server, and never a developer's `make ui` (its port file lives here).
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "DATABASE_URL": db_url,
    }


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCHEMAFLOW), *argv], capture_output=True, text=True, env=env, timeout=120)


def assert_stopped(done: subprocess.CompletedProcess[str], reason: str, fix: str) -> None:
    errors = [line for line in done.stderr.splitlines() if line.startswith("schemaflow: error:")]
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(errors) == 1, done.stderr
    assert reason in errors[0] and "nothing was touched" in errors[0], errors[0]
    assert "empty or missing" not in done.stderr and "Traceback" not in done.stderr
    assert fix in done.stderr, done.stderr
    assert "sqlite3.OperationalError" not in done.stderr  # no temporary server was started


@pytest.mark.parametrize("command", COMMANDS)
def test_no_prefect_server_stops_without_touching_database_url(
    stray: dict[str, str], db_url: str, tmp_path: Path, command: str
) -> None:
    before = fingerprint(db_url)
    done = run(COMMANDS[command], stray)
    assert_stopped(done, "no Prefect server: PREFECT_API_URL is unset", "make ui")
    assert "PREFECT_API_URL=" in done.stderr
    assert fingerprint(db_url) == before and not (tmp_path / "backups").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_prefect_server_stops_without_touching_database_url(
    stray: dict[str, str], db_url: str, tmp_path: Path, command: str
) -> None:
    before = fingerprint(db_url)
    dead = f"http://127.0.0.1:{free_port()}/api"
    done = run(COMMANDS[command], {**stray, "PREFECT_API_URL": dead})
    assert_stopped(done, f"Prefect server at {dead} unreachable", "make ui")
    assert fingerprint(db_url) == before and not (tmp_path / "backups").exists()


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_block_stops_without_touching_database_url(
    stray: dict[str, str], db_url: str, tmp_path: Path, command: str
) -> None:
    from prefect.settings import PREFECT_API_URL

    before = fingerprint(db_url)
    done = run(COMMANDS[command], {**stray, "PREFECT_API_URL": str(PREFECT_API_URL.value())})
    assert_stopped(done, f"block {BLOCK!r} not found", "schemaflow secrets set production")
    assert fingerprint(db_url) == before and not (tmp_path / "backups").exists()


def test_an_explicit_database_url_still_overrides(stray: dict[str, str], db_url: str) -> None:
    done = run(["history", "--env", "production", "--database-url", db_url], stray)
    assert done.returncode == 0, done.stderr
    assert "no runs recorded" in done.stdout
