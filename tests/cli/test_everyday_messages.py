"""Issue 25's messages that misled or stopped short: each now names the object, the source or the command.

Every test here failed on the code before: a literal `--env ENV`, a hint about DATABASE_URL for a
password given with --database-url, a generic "is the server running" for the stopped local cluster,
"materialized view" for metrics_daily's table, a PASS confirmation nobody gave, `.dump` backups, and
`make ui`'s server not found without PREFECT_HOME.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli.main import main
from db.connection.environments import get_environment
from db.local.cluster import free_port
from tests.support.environments import write_test_environments

QA = "[environments.qa]\nrequire_backup = false\n"


@pytest.fixture
def qa(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    write_test_environments(tmp_path, db_url, monkeypatch, QA)
    return db_url


def test_health_fixes_name_the_environment_not_env(qa: str) -> None:
    from db.connection.connect import connect
    from db.deploy.health import run_health_checks

    with connect(qa, autocommit=True) as conn:
        checks = run_health_checks(conn, environment="qa")
    fixes = [c.fix for c in checks if not c.ok]
    assert fixes and any("schemaflow migrate --env qa" in fix for fix in fixes), fixes
    assert not any("--env ENV" in fix for fix in fixes), fixes


def test_refresh_metrics_before_the_schema_names_the_migrate_command(
    qa: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["refresh-metrics", "--env", "qa"]) == 1
    err = capsys.readouterr().err
    assert "metrics_daily does not exist" in err and "`schemaflow migrate --env qa` first" in err, err


def test_a_wrong_password_given_with_database_url_points_at_database_url_not_the_variable(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    password = db_url.split("@")[0].rsplit(":", 1)[1]
    wrong = db_url.replace(f":{password}@", ":not-the-password@")
    assert main(["plan", "--database-url", wrong, "--json"]) == 2
    err = capsys.readouterr().err
    assert (
        "authentication failed" in err and "check the user name and the password in --database-url" in err
    ), err
    assert "DATABASE_URL /" not in err and "not-the-password" not in err


def test_the_stopped_local_cluster_names_local_db_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    envfile = tmp_path / "environments.toml"
    envfile.write_text("[environments.local]\nlocal = true\ndatabase_url_env = ''\n")
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(envfile))
    monkeypatch.setenv("SCHEMAFLOW_LOCAL_DIR", str(tmp_path / "local"))
    monkeypatch.setenv("SCHEMAFLOW_LOCAL_PORT", str(free_port()))  # nothing listens there
    assert main(["health", "--env", "local", "--no-gx"]) == 2
    err = capsys.readouterr().err
    assert "embedded local cluster" in err and "is not running" in err, err
    assert "`schemaflow local-db start`" in err, err
    # migrate's preflight, given the URL the flow resolved, says the same (it said "cannot reach").
    from db.connection.environments import get_environment
    from db.run.preflight import run_preflight
    from tasks.secrets import resolve_flow_target

    env = get_environment("local")
    rows = {r.name: r for r in run_preflight(resolve_flow_target(env, None).url, env, confirmed="")}
    assert "embedded local cluster" in rows["server reachable"].detail, rows["server reachable"]
    assert "`schemaflow local-db start`" in rows["server reachable"].hint


def test_preflight_says_metrics_daily_is_a_table_and_no_approval_passed_yet(
    qa: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from db.deploy.confirmation import APPROVAL_PENDING
    from db.run.preflight import run_preflight

    write_test_environments(tmp_path, qa, monkeypatch, "[environments.prod]\nrequire_confirmation = true\n")
    rows = {row.name: row for row in run_preflight(qa, get_environment("prod"), confirmed=APPROVAL_PENDING)}
    assert "metrics_daily will be a table" in rows["timescaledb"].detail
    assert "materialized view" not in rows["timescaledb"].detail
    confirmation = rows["confirmation"]
    assert confirmation.status == "skip" and confirmation.detail.startswith("not yet"), confirmation


def test_environments_toml_names_the_backups_as_they_are_written() -> None:
    from db.backup.dump import BACKUP_SUFFIX
    from db.connection.environments import PROJECT_ROOT

    text = (PROJECT_ROOT / "environments.toml").read_text()
    assert f"<UTC timestamp>{BACKUP_SUFFIX}" in text and "timestamp>.dump " not in text


def test_without_prefect_home_the_cli_looks_where_make_ui_keeps_its_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli.prefect_server import PROJECT_ROOT, ui_state_dir, ways_out

    monkeypatch.delenv("PREFECT_HOME", raising=False)
    assert ui_state_dir() == PROJECT_ROOT / ".local" / "prefect"  # the Makefile's PREFECT_HOME
    monkeypatch.setenv("PREFECT_HOME", "/elsewhere/prefect-home")
    assert "/elsewhere/prefect-home" in ways_out() and "make ui" in ways_out()


def test_plan_refuses_a_server_without_timescaledb_where_the_environment_requires_it(
    tmp_path: Path, plain_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, a 1,895-line plain-PostgreSQL plan that migrate would then refuse."""
    write_test_environments(
        tmp_path, plain_db_url, monkeypatch, '[environments.prod]\ntimescaledb = "required"\n'
    )
    assert main(["plan", "--env", "prod"]) == 1
    captured = capsys.readouterr()
    assert "not in shared_preload_libraries" in captured.err and "no plan is shown" in captured.err
    assert "add timescaledb to shared_preload_libraries" in captured.err
    assert "CREATE TABLE" not in captured.out


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # Lint stops a plan before the scratch build: its finding names the file's line as file:line.
        ("CREATE TABLE IF NOT EXISTS public.t (\n  id int,\n  name text\n;\n", "schema.sql:4: SF001"),
        ("CREATE TABLE IF NOT EXISTS public.t (\n  id int,\n  name txet\n);\n", "line 3"),
    ],
    ids=["syntax-error", "type-typo"],
)
def test_plan_names_the_file_and_line_of_a_statement_that_cannot_run(
    qa: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, names: str
) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(text)
    assert main(["plan", "--env", "qa", "--schema-file", str(schema)]) != 0
    err = capsys.readouterr().err
    assert str(schema) in err and names in err, err


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_run_on_the_cli_says_its_error_once_without_a_banner(
    qa: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the failure hook's '!!!! migrate FAILED on QA !!!!' line on stderr, then the error line."""
    schema = tmp_path / "failing.sql"
    schema.write_text(
        "CREATE TABLE IF NOT EXISTS public.broken (id int REFERENCES public.no_such_table (id));\n"
    )
    code = main(["migrate", "--env", "qa", "--skip-expectations", "--schema-file", str(schema)])
    printed = capsys.readouterr()
    assert code != 0
    assert "!!!" not in printed.err and "FAILED on QA" not in printed.err, printed.err
    assert printed.err.count("no_such_table") == 1, printed.err  # the error line, once
    assert os.environ.get("SCHEMAFLOW_CLI_RUN") is None  # the hook is loud again for worker runs


def test_wrapped_plan_lines_continue_under_their_step_not_at_column_0(
    qa: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(
        "CREATE TABLE IF NOT EXISTS public.a_rather_long_table_name_to_wrap (id bigint PRIMARY KEY, "
        "description text NOT NULL DEFAULT 'a default long enough to need a second line');\n"
    )
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["plan", "--env", "qa", "--schema-file", str(schema)]) == 1
    lines = capsys.readouterr().out.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("plan ") and "step(s)" in line)
    end = next(n for n, line in enumerate(lines) if line.startswith("plan checksum"))
    body = lines[start + 1 : end]  # the steps: between the plan's head line and its checksum line
    assert len(body) > 3 and all(len(line) <= 60 for line in lines), lines
    assert all(line.startswith(" ") for line in body), "\n".join(lines)


def test_prefects_exit_time_draining_notices_stay_off_the_terminal(qa: str) -> None:
    """'Still processing items: 1 items remaining...' came from these plain loggers under `secrets list`
    and `history` tables, while Prefect's senders drained at exit; --debug still shows them."""
    import logging

    from cli.main import PREFECT_EXIT_LOGGERS

    for name in PREFECT_EXIT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    main(["history", "--env", "qa"])
    assert all(logging.getLogger(name).level == logging.ERROR for name in PREFECT_EXIT_LOGGERS)
    assert "EventsWorker" in PREFECT_EXIT_LOGGERS  # prefect/_internal/concurrency/services.py's name
