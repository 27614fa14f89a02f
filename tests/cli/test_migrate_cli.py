"""`schemaflow migrate` and `schemaflow history`: exit codes, confirmation, the printed report."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.deploy.apply import apply_master_schema
from tests.support.environments import use_test_environments


@pytest.fixture
def environments(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private environments file whose environments point at this test's fresh database."""
    use_test_environments(tmp_path, db_url, monkeypatch)
    for key in ("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "PREFECT_SERVER_LOGGING_LEVEL"):
        monkeypatch.setenv(key, os.environ.get(key, "WARNING"))
    return tmp_path


def _public_tables(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert row is not None
    return int(row[0])


def test_unknown_environment_is_a_usage_error(environments: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["migrate", "--env", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert "unknown environment 'nowhere'" in err and "dev, production" in err


def test_a_malformed_url_is_a_usage_error_without_the_password(
    environments: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        main(["migrate", "--env", "dev", "--database-url", "postgresql://app:S3cretPw@db.example:99999/x"])
        == 2
    )
    err = capsys.readouterr().err
    assert "malformed database URL" in err and "S3cretPw" not in err and len(err.splitlines()) == 2


def test_production_without_confirmation_stops_before_any_change(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["migrate", "--env", "production"]) == 1  # pytest's stdin is not a terminal
    err = capsys.readouterr().err
    assert "requires confirmation; nothing was changed" in err and "--yes" in err
    assert not (environments / "backups").exists()
    assert _public_tables(db_url) == 0


@pytest.mark.usefixtures("prefect_harness")
def test_production_with_yes_backs_up_applies_and_verifies(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:  # production already holds data
        conn.execute("CREATE TABLE public.legacy (id int PRIMARY KEY); INSERT INTO public.legacy VALUES (1)")
    clock = time.monotonic()
    code = main(["migrate", "--env", "production", "--yes", "--skip-expectations"])
    out = capsys.readouterr().out
    print(
        f"\nmigrate --env production --yes (in-process CLI, fresh database): {time.monotonic() - clock:.1f} s"
    )
    assert code == 0, out
    backups = list((environments / "backups" / "production").iterdir())
    assert len(backups) == 1 and backups[0].stat().st_size > 0
    assert str(backups[0]) in out
    assert "outcome: **SUCCESS**" in out and "| PASS | key tables present |" in out
    assert "| PASS | confirmation | confirmed for production by --yes |" in out
    assert _public_tables(db_url) > 20

    assert main(["history", "--env", "production"]) == 0
    history = capsys.readouterr().out
    assert "success" in history and "production" in history


@pytest.mark.usefixtures("prefect_harness")
def test_a_wrong_password_is_one_line_and_never_echoed(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    bad = db_url.replace("postgres:", "postgres:Wr0ngSecret", 1).replace("@", "x@", 1)
    code = main(["migrate", "--env", "dev", "--database-url", bad, "--skip-expectations"])
    captured = capsys.readouterr()
    assert code == 2  # a configuration/connection error, as the README's exit-code table says
    assert "authentication failed" in captured.err
    assert "Wr0ngSecret" not in captured.out + captured.err
    assert "Wr0ngSecret" not in (environments / "logs" / "migrate-dev.log").read_text()
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(limit=200)
    stored = [r.parameters.get("database_url") for r in runs if r.parameters.get("database_url")]
    assert stored and all("Wr0ngSecret" not in str(value) for value in stored), stored


def test_history_before_any_run_says_so(environments: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["history", "--env", "dev"]) == 0
    assert "no runs recorded" in capsys.readouterr().out


def test_history_lists_runs_newest_first(
    environments: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    small = "CREATE TABLE IF NOT EXISTS public.t (id int PRIMARY KEY);\n"
    apply_master_schema(db_url, small, environment="dev")
    apply_master_schema(db_url, small, environment="dev")
    assert main(["history", "--env", "dev"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if " dev " in line]
    assert len(lines) == 2 and int(lines[0].split()[0]) > int(lines[1].split()[0])
    password = db_url.split("@")[0].rsplit(":", 1)[1]
    assert password not in "\n".join(lines)


@pytest.mark.usefixtures("prefect_harness")
def test_dry_run_as_a_real_command_prints_the_plan_and_changes_nothing(
    environments: Path, db_url: str
) -> None:
    """The installed console script end to end, its run sent to the session's Prefect server.

    (A CLI run without a server starts a temporary one first: benchmarks/bench_apply.py --flow times that.)
    """
    from prefect.settings import PREFECT_API_URL

    exe = Path(sys.executable).with_name("schemaflow")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    clock = time.monotonic()
    done = subprocess.run([str(exe), "migrate", "--env", "dev", "--dry-run"], capture_output=True, text=True,
                          timeout=180, env=env)  # fmt: skip
    print(f"\nschemaflow migrate --env dev --dry-run (subprocess): {time.monotonic() - clock:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "would make" in done.stdout and "public.listener_events" in done.stdout
    assert "Traceback" not in done.stderr
    assert _public_tables(db_url) == 0


@pytest.mark.usefixtures("prefect_harness")
def test_skip_confirmation_is_the_clis_and_the_report_says_so(
    environments: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    schema = environments / "small.sql"
    schema.write_text("CREATE TABLE IF NOT EXISTS public.t (id int PRIMARY KEY);\n")
    monkeypatch.setenv("SKIP_CONFIRMATION", "true")
    main(["migrate", "--env", "production", "--schema-file", str(schema), "--skip-expectations"])
    out = capsys.readouterr().out
    assert "| PASS | confirmation | confirmed for production by SKIP_CONFIRMATION=true (CLI) |" in out
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(limit=200)
    ours = [r for r in runs if r.parameters.get("schema_file") == str(schema)]
    assert ours and ours[0].parameters["confirm"] is True
    assert ours[0].parameters["confirmed_by"] == "SKIP_CONFIRMATION=true (CLI)"


PROBE = """
import sys
from cli.main import main
code = main(sys.argv[1:])
print('PREFECT_IMPORTED=' + str(any(m.split('.')[0] == 'prefect' for m in sys.modules)))
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        (None, 2, "not found"),
        ("BEGIN;\nCREATE TABLE IF NOT EXISTS public.t (id int);\nCOMMIT;\n", 1, "BEGIN/COMMIT near line 1"),
        ("CREATE TABLE IF NOT EXISTS public.t (id int;\n", 1, "SF001 parse-error"),
        # PL/pgSQL's COMMIT fails only at run time ("invalid transaction termination"): after a backup.
        ("SELECT 1;\nDO $$ BEGIN COMMIT; END $$;\n", 1, "BEGIN/COMMIT near line 2"),
        ("", 2, "is a directory"),
    ],
)
def test_a_bad_schema_file_fails_before_prefect_preflight_or_backup(
    environments: Path, db_url: str, text: str | None, code: int, fragment: str
) -> None:
    schema = environments / "schema.sql"
    if text == "":
        schema.mkdir()
    elif text is not None:
        schema.write_text(text)
    argv = ["migrate", "--env", "production", "--yes", "--schema-file", str(schema)]
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"})  # fmt: skip
    assert done.returncode == code, done.stdout + done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr
    # Preflight's connections and the backup run inside the flow: no Prefect, no connection, no backup.
    assert "PREFECT_IMPORTED=False" in done.stdout
    assert not (environments / "backups").exists() and _public_tables(db_url) == 0
