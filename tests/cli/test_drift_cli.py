"""`schemaflow drift`: exit codes, the table and JSON output, --env resolution, masked errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cli.main import main

SMALL_SCHEMA = Path(__file__).resolve().parents[1] / "db" / "drift_schema.sql"
ENVIRONMENTS = """
[defaults]
database_url_env = "SCHEMAFLOW_DRIFT_TEST_URL"
allow_insecure = true
timescaledb = "preferred"

[environments.staging]
require_backup = false
"""


@pytest.fixture
def small_db(db_url: str) -> str:
    """A database built from the small test schema (the CLI compares it with --schema-file)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(SMALL_SCHEMA.read_text())  # type: ignore[arg-type]
    return db_url


def test_no_drift_exits_0(small_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["drift", "--database-url", small_db, "--schema-file", str(SMALL_SCHEMA)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("no drift")
    assert "postgres:***@" in out


def test_drift_exits_1_with_a_table_and_suggested_sql(
    small_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(small_db) as conn:
        conn.execute("ALTER TABLE episodes DISABLE ROW LEVEL SECURITY; DROP INDEX idx_episodes_tenant_id")
    code = main(["drift", "--database-url", small_db, "--schema-file", str(SMALL_SCHEMA)])
    out = capsys.readouterr().out
    assert code == 1
    assert "drift: 2 differences (1 changed, 1 missing)" in out
    # A row of the table; its detail folds onto the next line so the table fits 80 columns (piped).
    assert re.search(r"^high +changed +rls +public\.episodes +enabled: expected true,", out, re.M)
    assert max(len(line) for line in out.splitlines()) <= 80
    words = " ".join(out.split())  # a statement wrapped at the edge is still the same words
    assert "enabled: expected true, found false" in words
    assert "ALTER TABLE public.episodes ENABLE ROW LEVEL SECURITY;" in words
    # episodes is empty: the index is built in the transaction (no CONCURRENTLY needed).
    assert (
        "CREATE INDEX IF NOT EXISTS idx_episodes_tenant_id ON public.episodes USING btree (tenant_id);"
        in words
    )
    assert main(["drift", "--database-url", small_db, "--schema-file", str(SMALL_SCHEMA), "--sql"]) == 1
    script = capsys.readouterr().out
    assert "\nBEGIN;\n" in script
    assert (
        "-- alter rls public.episodes: AccessExclusiveLock on public.episodes, in the transaction" in script
    )
    assert "ALTER TABLE public.episodes ENABLE ROW LEVEL SECURITY;\n" in script and "\nCOMMIT;\n" in script


def test_json_output_and_env_resolution(
    small_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "environments.toml").write_text(ENVIRONMENTS)
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(tmp_path / "environments.toml"))
    monkeypatch.setenv("SCHEMAFLOW_DRIFT_TEST_URL", small_db)
    with psycopg.connect(small_db) as conn:
        conn.execute("ALTER TABLE tenants ADD COLUMN nickname text")
    code = main(["drift", "--env", "staging", "--schema-file", str(SMALL_SCHEMA), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["has_drift"] is True and report["counts"] == {"unexpected": 1}
    [diff] = report["differences"]
    assert (diff["status"], diff["kind"], diff["name"]) == ("unexpected", "column", "public.tenants.nickname")
    assert diff["suggestion"].startswith("ALTER TABLE public.tenants DROP COLUMN nickname;")
    assert "***" in report["target"]


def test_usage_errors_exit_2_without_a_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drift"]) == 2
    assert "pass --env ENV or --database-url URL" in capsys.readouterr().err
    assert main(["drift", "--database-url", "postgresql://bob:hunter2@127.0.0.1:1/x", "--json"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "cannot reach" in err
    assert main(["drift", "--env", "no-such-env"]) == 2


def test_a_schema_file_that_does_not_apply_is_a_config_error(
    small_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE TABLE public.ok (id int);\nCREATE TABLE public.bad (id no_such_type);\n")
    assert main(["drift", "--database-url", small_db, "--schema-file", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "does not apply to an empty scratch database" in err and "no_such_type" in err
    assert "target was not touched" in err
    with psycopg.connect(small_db) as conn:
        leftovers = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'schemaflow_drift_%'")
        assert leftovers.fetchone() == (0,)
    # An error the server gives no position for (a column that does not exist) still names its line.
    broken.write_text(
        "CREATE TABLE IF NOT EXISTS public.ok (id int);\n\n"
        "CREATE INDEX IF NOT EXISTS ok_i ON public.ok (nope);\n"
    )
    assert main(["plan", "--database-url", small_db, "--schema-file", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "at line 3" in err and 'column "nope" does not exist' in err, err
    assert "fix line 3 of the file" in err, err
    # The master file, which creates TimescaleDB, with a bad reference at its end: the line is the
    # reference's, not the CREATE EXTENSION's (the finder's own session refused a second load of it).
    from db.schema.master_file import read_schema

    master = read_schema()
    bad = "CREATE TABLE IF NOT EXISTS public.zz (id int, ref uuid REFERENCES public.no_such_table (id));\n"
    broken.write_text(master + bad)
    assert main(["plan", "--database-url", small_db, "--schema-file", str(broken)]) == 2
    err = capsys.readouterr().err
    line = len(master.splitlines()) + 1
    assert f"at line {line}" in err and "no_such_table" in err and "CREATE EXTENSION" not in err, err


def test_sql_script_keeps_a_crafted_name_inside_its_comment(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "awkward.sql"
    schema.write_text('CREATE TABLE public."primary" ("column" integer, "it""s" text);\n')
    # The newline would end the script's `--` comment, making the rest of the name a statement.
    crafted = 'x\nDROP TABLE "primary"; --'
    with psycopg.connect(db_url) as conn:
        conn.execute(schema.read_text())  # type: ignore[arg-type]
        conn.execute(
            sql.SQL(
                'ALTER TABLE public."primary" DROP COLUMN "column"; CREATE TABLE public.{} (id int)'
            ).format(sql.Identifier(crafted))
        )
    assert main(["drift", "--database-url", db_url, "--schema-file", str(schema), "--sql"]) == 1
    script = capsys.readouterr().out
    assert '\n-- drop table public.x\\nDROP TABLE "primary"; --: AccessExclusiveLock' in script
    assert not any(line.startswith('DROP TABLE "primary"') for line in script.splitlines())
    assert 'ALTER TABLE public."primary" ADD COLUMN "column" integer;' in script
    with psycopg.connect(db_url) as conn:
        conn.execute(script)  # type: ignore[arg-type]
        tables = conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        ).fetchall()
        columns = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.\"primary\"'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attname"
        ).fetchall()
        conn.rollback()
    assert tables == [("primary",)]
    assert columns == [("column",), ('it"s',)]
