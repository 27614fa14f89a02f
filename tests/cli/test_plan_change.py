"""`schemaflow plan --from-file BASE --to-file HEAD`: the plan of a change, built on a scratch server.

The change's plan must be the plan `schemaflow plan` gives against a database built from BASE (after
the one-off the change adds has run, as migrate runs it first), step for step; bad input exits 2 with
what to do; the scratch databases are gone afterwards; no password is printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.deploy.apply import apply_master_schema
from db.local.cluster import LocalCluster
from db.schema.master_file import read_schema
from db.versions.files import discover_migrations
from db.versions.run import run_pending_migrations
from tests.cli.change_fixture import LEFTOVERS_SQL, NEW_CHECK, NEW_INDEX, RENAME_ONE_OFF, write_change

SMALL_SCHEMA = Path(__file__).resolve().parents[1] / "db" / "drift_schema.sql"


def _leftover_databases(admin_url: str) -> int:
    with psycopg.connect(admin_url) as conn:
        return int(conn.execute(LEFTOVERS_SQL).fetchone()[0])  # type: ignore[index]


def _password(cluster: LocalCluster) -> str:
    return cluster.password_file.read_text().strip() if cluster.password_file.exists() else ""


def test_the_change_plan_equals_the_plan_of_a_database_built_from_base(
    pg_cluster: LocalCluster, db_url: str, admin_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = write_change(tmp_path / "base", tmp_path / "head")
    # The database built from BASE, the way migrate builds and then runs the change's one-off; rows in
    # listener_events (one over a day long) so that sizes, chunks and the CHECK's data check are real.
    apply_master_schema(db_url, read_schema(base), environment="test", record_history=True)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO listener_events (event_time, tenant_id, podcast_id, episode_id, listener_id, "
            "event_type, position_seconds, duration_seconds) SELECT now() - make_interval(days => n), "
            "gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'l', 'play', 0, "
            "CASE WHEN n = 3 THEN 90000 ELSE 60 END FROM generate_series(1, 20) AS n"
        )
    run_pending_migrations(db_url, discover_migrations(tmp_path / "head"), environment="test")

    assert main(["plan", "--database-url", db_url, "--schema-file", str(head), "--json"]) == 1
    live = json.loads(capsys.readouterr().out)
    assert main(["plan", "--database-url", db_url, "--schema-file", str(head), "--format", "markdown"]) == 1
    markdown = capsys.readouterr().out
    assert f"| {len(live['steps'])} | create index |" in markdown  # the step table, then its objects
    assert f"{len(live['steps'])}. `public.{NEW_INDEX}`" in markdown
    change_args = ["plan", "--from-file", str(base), "--to-file", str(head), "--from-migrations",
                   str(tmp_path / "base"), "--migrations-dir", str(tmp_path / "head"),
                   "--scratch-url", admin_url]  # fmt: skip
    assert main([*change_args, "--stats-from", db_url, "--format", "json"]) == 1
    change = json.loads(capsys.readouterr().out)

    assert change["plan"]["steps"] == live["steps"]  # step for step: SQL, locks, hazards, sizes
    sql = "\n".join(step["sql"] for step in live["steps"])
    assert "listen_source" in sql and NEW_INDEX in sql and NEW_CHECK in sql
    assert "user_agent" not in sql  # the one-off renamed it before the plan: no drop and re-create
    assert any("fails_on_data" in step["hazards"] for step in live["steps"])  # the 25-hour row
    assert [f["file"] for f in change["one_offs_added"]] == [RENAME_ONE_OFF]
    assert any("renaming-column" in finding for finding in change["lint"])  # Squawk on the one-off
    assert _leftover_databases(admin_url) == 0
    assert _password(pg_cluster) not in json.dumps(change)


def test_an_unchanged_file_plans_nothing_and_exits_0(
    admin_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["plan", "--from-file", str(SMALL_SCHEMA), "--to-file", str(SMALL_SCHEMA), "--scratch-url"]
    assert main([*args, admin_url]) == 0
    out = capsys.readouterr().out
    assert "no changes" in out and "lint: no findings" in out


def test_bad_input_exits_2_with_what_to_do(
    pg_cluster: LocalCluster,
    admin_url: str,
    plain_db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "head.sql"
    lines = SMALL_SCHEMA.read_text().splitlines()
    lines.insert(3, "CREATE TABLE IF NOT EXISTS public.broken (id no_such_type);")
    broken.write_text("\n".join(lines) + "\n")
    small = ["plan", "--from-file", str(SMALL_SCHEMA), "--scratch-url", admin_url, "--to-file"]

    assert main([*small, str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}: the schema file does not apply" in err and "at line 4" in err
    assert "fix line 4 of the file" in err and _password(pg_cluster) not in err
    assert _leftover_databases(admin_url) == 0  # dropped on the way out of a failure too

    # A one-off BASE already has, edited by the change: the deploy would refuse it, so the plan does.
    for side, text in (("base", "SELECT 1;\n"), ("head", "SELECT 2;\n")):
        (tmp_path / side).mkdir()
        (tmp_path / side / "20261201000000_touch.sql").write_text(text)
    edited = ["--from-migrations", str(tmp_path / "base"), "--migrations-dir", str(tmp_path / "head")]
    assert main([*small, str(SMALL_SCHEMA), *edited]) == 2
    err = capsys.readouterr().err
    assert "one-off 20261201000000_touch.sql was edited after it was applied" in err
    assert _leftover_databases(admin_url) == 0

    # Statistics from a server of another build (TimescaleDB not preloaded there): refused before a build.
    assert main([*small, str(SMALL_SCHEMA), "--stats-from", plain_db_url]) == 2
    err = capsys.readouterr().err
    assert "runs another build than the scratch server" in err and "(scratch) against" in err

    assert main([*small, str(tmp_path / "missing.sql")]) == 2
    assert "missing.sql not found" in capsys.readouterr().err

    assert main(["plan", "--to-file", str(SMALL_SCHEMA), "--database-url", admin_url]) == 2
    assert "--stats-from URL" in capsys.readouterr().err
    assert main(["plan", "--database-url", admin_url, "--stats-from", admin_url]) == 2
    assert "add --base-ref REF or --from-file BASE" in capsys.readouterr().err
