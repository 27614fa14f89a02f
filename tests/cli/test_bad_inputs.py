"""Bad inputs through the CLI: each is one actionable error line, the right exit code, no password shown.

`schemaflow backup` fails before any Prefect import; `schemaflow migrate` fails in its preflight task.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import main
from db.connection.urls import with_database
from db.local.cluster import LocalCluster, free_port
from tests.db.test_preflight import start_standby

PASSWORD = "Zq9-do-not-echo-7731"
SCHEMAFLOW = Path(sys.executable).parent / "schemaflow"
CONNECT_TIMEOUT = 2
ENVIRONMENTS = f"""
[defaults]
database_url_env = "SCHEMAFLOW_BAD_INPUT_URL"
connect_timeout = {CONNECT_TIMEOUT}
backup_dir = "backups"
report_log = "logs/migrate-{{name}}.log"
lock_retries = 0

[environments.production]
require_backup = true
require_confirmation = true
timescaledb = "required"
"""


@pytest.fixture
def environments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "environments.toml"
    path.write_text(ENVIRONMENTS)
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    monkeypatch.delenv("SCHEMAFLOW_BAD_INPUT_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SKIP_CONFIRMATION", raising=False)
    monkeypatch.setenv(
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL",
        os.environ.get("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING"),
    )
    return tmp_path


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never answers: a server that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def with_password(url: str, password: str = PASSWORD) -> str:
    """`url` (user postgres) with the distinctive password in place of the real one."""
    scheme, rest = url.split("://", 1)
    _, host = rest.split("@", 1)
    return f"{scheme}://postgres:{password}@{host}"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str, float]:
    started = time.monotonic()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err, time.monotonic() - started


def run_cli_process(argv: list[str], extra_env: dict[str, str] | None = None) -> tuple[int, str, str, float]:
    """Run `schemaflow` in its own process against the test Prefect server: what a user sees."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), **(extra_env or {})}
    started = time.monotonic()
    result = subprocess.run([str(SCHEMAFLOW), *argv], capture_output=True, text=True, env=env, timeout=180)
    return result.returncode, result.stdout, result.stderr, time.monotonic() - started


def assert_one_line_error(code: int, out: str, err: str, expected_code: int, fragment: str) -> None:
    errors = [line for line in err.splitlines() if line.startswith("schemaflow: error:")]
    assert len(errors) == 1, err
    assert fragment in errors[0], errors[0]
    assert code == expected_code, (code, err)
    assert "Traceback" not in out + err, out + err
    assert PASSWORD not in out + err


def backup_cases(pg_cluster: LocalCluster, silent_port: int) -> list[tuple[str, list[str], int, str]]:
    good = pg_cluster.url("postgres")
    return [
        ("malformed url", ["--database-url", f"postgresql://app:{PASSWORD}@:notaport/db"], 2, "malformed"),
        (
            "no database in url",
            ["--database-url", f"postgresql://app:{PASSWORD}@127.0.0.1:5432"],
            2,
            "names no database",
        ),
        ("wrong password", ["--database-url", with_password(good)], 2, "authentication failed"),
        (
            "refused",
            ["--database-url", f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port()}/db"],
            2,
            "cannot reach a PostgreSQL server",
        ),
        (
            "timeout",
            ["--database-url", f"postgresql://app:{PASSWORD}@127.0.0.1:{silent_port}/db"],
            2,
            f"within {CONNECT_TIMEOUT} s",
        ),
        ("missing database", ["--database-url", with_database(good, "no_such_db")], 2, "does not exist"),
        (
            "raw slash in password",
            ["--database-url", f"postgresql://app:{PASSWORD}/w:rd@127.0.0.1:5432/db"],
            2,
            "unencoded '/' in its user or password",
        ),
    ]


CASE_NAMES = [
    "malformed url",
    "no database in url",
    "wrong password",
    "refused",
    "timeout",
    "missing database",
    "raw slash in password",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_backup_bad_inputs(
    case: str, environments: Path, pg_cluster: LocalCluster, silent_port: int, capsys: pytest.CaptureFixture
) -> None:
    _, args, expected, fragment = next(c for c in backup_cases(pg_cluster, silent_port) if c[0] == case)
    code, out, err, seconds = run_cli(["backup", "--env", "production", *args], capsys)
    assert_one_line_error(code, out, err, expected, fragment)
    assert seconds < CONNECT_TIMEOUT * 3 + 5  # an unreachable host is given up within the connect timeout
    assert not (environments / "backups").exists() or not any((environments / "backups").iterdir())


def test_unknown_environment_lists_the_known_ones(environments: Path, capsys: pytest.CaptureFixture) -> None:
    for command in (["backup"], ["restore", "--backup", "x"], ["migrate"]):
        code, out, err, _ = run_cli([*command, "--env", "prod"], capsys)
        assert_one_line_error(code, out, err, 2, "unknown environment 'prod'; known environments: production")


def test_secret_from_environment_variable_is_not_echoed(
    environments: Path,
    pg_cluster: LocalCluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv("SCHEMAFLOW_BAD_INPUT_URL", with_password(pg_cluster.url("postgres")))
    code, out, err, _ = run_cli(["backup", "--env", "production"], capsys)
    assert_one_line_error(code, out, err, 2, "authentication failed")


def test_restore_refuses_to_replace_without_confirmation(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["backup", "--env", "production", "--database-url", db_url]) == 0
    out = capsys.readouterr().out
    backup = next((environments / "backups").iterdir())
    assert f"--backup {backup}" in out and "verified" in out
    code, out, err, _ = run_cli(
        ["restore", "--env", "production", "--backup", str(backup), "--database-url", db_url], capsys
    )
    assert_one_line_error(code, out, err, 1, "needs confirmation; nothing was changed")
    code, out, err, _ = run_cli(
        ["restore", "--env", "production", "--backup", str(environments / "nope"), "--database-url", db_url],
        capsys,
    )
    assert_one_line_error(code, out, err, 1, "does not exist")


# `schemaflow migrate`: a malformed URL is refused before Prefect starts; wrong password, a closed
# port and a missing database end in its preflight, and are configuration/connection errors: exit 2,
# as the README's exit-code table says (a failed check is 1).
MIGRATE_CASES = ["malformed url", "wrong password", "refused", "missing database"]


@pytest.mark.parametrize("case", MIGRATE_CASES)
def test_migrate_bad_inputs(
    case: str,
    environments: Path,
    pg_cluster: LocalCluster,
    silent_port: int,
    prefect_harness: None,
) -> None:
    _, args, expected, fragment = next(c for c in backup_cases(pg_cluster, silent_port) if c[0] == case)
    code, out, err, seconds = run_cli_process(["migrate", "--env", "production", "--yes", *args])
    assert_one_line_error(code, out, err, expected, fragment)
    assert seconds < CONNECT_TIMEOUT * 3 + 60  # includes starting Python and Prefect


def test_migrate_refuses_a_server_without_timescaledb(
    environments: Path, plain_db_url: str, prefect_harness: None
) -> None:
    code, out, err, _ = run_cli_process(
        ["migrate", "--env", "production", "--yes", "--database-url", plain_db_url]
    )
    assert_one_line_error(code, out, err, 1, "timescaledb")


def test_migrate_refuses_a_read_replica(
    environments: Path, pg_cluster: LocalCluster, prefect_harness: None
) -> None:
    replica = start_standby(pg_cluster)
    try:
        url = with_database(replica.url(), "postgres")
        code, out, err, _ = run_cli_process(
            ["migrate", "--env", "production", "--yes", "--database-url", url]
        )
        assert_one_line_error(code, out, err, 1, "read replica")
    finally:
        replica.destroy()
        shutil.rmtree(replica.datadir.parent, ignore_errors=True)


def test_a_raw_slash_or_colon_in_the_password_gets_the_encoding_hint(
    environments: Path, capsys: pytest.CaptureFixture
) -> None:
    for password in (f"{PASSWORD}/w:rd", f"{PASSWORD}:w/rd", f"{PASSWORD}@x"):
        url = f"postgresql://app:{password}@127.0.0.1:5432/db"
        code, out, err, _ = run_cli(["backup", "--env", "production", "--database-url", url], capsys)
        assert_one_line_error(code, out, err, 2, "unencoded")
        assert "percent-encode" in err and "%2F" in err and "Port could not be cast" not in err


def test_a_pinned_plan_with_a_dry_run_is_refused_rather_than_silently_unchecked(
    environments: Path, pg_cluster: LocalCluster, capsys: pytest.CaptureFixture
) -> None:
    from cli.main import main

    url = pg_cluster.url("postgres")
    code = main(
        ["migrate", "--env", "production", "--database-url", url, "--dry-run", "--plan-checksum", "ab" * 32]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "a --dry-run does not check it" in err and "schemaflow plan --json" in err


def test_a_one_off_that_is_not_utf8_is_named_with_the_byte_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "20261201103000_latin1_comment.sql"
    bad.write_bytes(b"-- r\xe9sum\xe9 of the change\nSELECT 1;\n")
    code, out, err, _ = run_cli(["lint-migrations", "--dir", str(tmp_path)], capsys)
    assert_one_line_error(code, out, err, 2, f"{bad} is not UTF-8: byte 0xe9 at offset 4 (line 1)")
    assert "unexpected" not in err
