"""The plan is proven before anyone sees it, and a dry run builds online index definitions on a copy.

The planner gap is a real one, not an injected hook: a live hypertable the file declares as a plain
table. The comparison sees it (hypertable and dimension entries the file does not build), and the
planner knowingly plans nothing for it, since TimescaleDB cannot turn a hypertable back into a plain
table in place (db/plan/kinds/timescaledb.py). Before the proof the plan came out empty, exit 0.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from db.catalog.snapshot import snapshot_catalog
from db.deploy.execute import NOT_REHEARSED, execute_plan
from db.errors import ApplyFailed
from db.plan.database import plan_database
from db.plan.model import LockLevel, Plan, Step, snapshot_checksum
from db.plan.proof import PlannerGap
from db.schema.master_file import read_schema

EVENTS = "CREATE TABLE public.ev (t timestamptz NOT NULL, k int NOT NULL, v int);\n"
HYPERTABLE = "SELECT create_hypertable('public.ev', by_range('t'), create_default_indexes => FALSE);\n"
LIMITS = {"lock_timeout": "1s", "statement_timeout": "1min", "lock_retries": 1}


def _run(url: str, statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]


def _checksum(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return snapshot_checksum(snapshot_catalog(conn, ("public",)))


def test_a_planner_gap_is_refused_with_its_residual_before_the_plan_is_shown(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(db_url, "CREATE EXTENSION IF NOT EXISTS timescaledb;\n" + EVENTS + HYPERTABLE)
    _run(db_url, "INSERT INTO public.ev VALUES (now(), 1, 1);")
    # The file: ev is a plain table.
    schema = "CREATE EXTENSION IF NOT EXISTS timescaledb;\n" + EVENTS.replace("TABLE", "TABLE IF NOT EXISTS")
    before = _checksum(db_url)
    with pytest.raises(PlannerGap) as caught:
        plan_database(db_url, schema, schemas=("public",))
    message = caught.value.message
    assert message.startswith("planner gap: the plan, applied to a schema-only copy"), message
    assert "hypertable public.ev (unexpected" in message, message
    assert "nothing was changed" in message and "one-off migration" in (caught.value.hint or "")
    assert [(r["kind"], r["name"]) for r in caught.value.rows] == [("hypertable", "public.ev")]
    # The CLI refuses it the same way: exit 1, the residual named, no plan printed.
    schema_file = tmp_path / "schema.sql"
    schema_file.write_text(schema)
    code = main(["plan", "--database-url", db_url, "--schema-file", str(schema_file)])
    shown = capsys.readouterr()
    assert code == 1, shown
    assert "planner gap" in shown.err + shown.out and "hypertable public.ev" in shown.err + shown.out
    assert "plan checksum" not in shown.out
    assert _checksum(db_url) == before


def test_a_plan_whose_step_cannot_run_is_refused_naming_that_step_and_the_server_s_error(db_url: str) -> None:
    # Found by the proof in tests/flows/test_approval.py: a hand-made table with an int id, the file's
    # is uuid. The plan's id::uuid fails whatever the rows; before, it was shown and failed at run time.
    _run(db_url, "CREATE TABLE public.p (id int, label text);")
    with pytest.raises(PlannerGap) as caught:
        plan_database(db_url, "CREATE TABLE IF NOT EXISTS public.p (id uuid, label text);")
    message = caught.value.message
    assert "applying the plan to the copy in the scratch database failed at alter column public.p.id" in (
        message
    )
    assert "cannot cast type integer to uuid" in message and "nothing was changed" in message


def test_a_plan_on_the_master_schema_passes_its_proof_on_a_copy_and_leaves_both_databases(
    seeded_url: str,
) -> None:
    clock = time.monotonic()
    # Hand drift on the seeded master schema: a dropped index and a dropped comment, so the proof
    # copies the whole live catalog (hypertables, continuous aggregates, policies) and runs a plan.
    _run(seeded_url, "DROP INDEX public.idx_subscriptions_tenant_id;")
    before = _checksum(seeded_url)
    plan = plan_database(seeded_url, read_schema())
    assert not plan.is_empty
    assert plan.proof.startswith("proven on a schema-only copy of the live catalog"), plan.proof
    assert _checksum(seeded_url) == before  # the proof ran in the scratch database only
    print(f"\nproof of a master-schema plan: {time.monotonic() - clock:.1f} s")


def _index_step(sql: str) -> Step:
    return Step(
        sql=sql, kind="index", name="public.t_rehearsed", action="create", transactional=False,
        lock=LockLevel.SHARE_UPDATE_EXCLUSIVE, relation="public.t",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("definition", "error"),
    [
        ("(nope)", 'column "nope" does not exist'),
        ("(label int4_ops)", 'operator class "int4_ops" does not accept data type text'),
    ],
    ids=["bad column", "bad operator class"],
)
def test_a_dry_run_builds_an_online_index_definition_on_an_empty_copy_and_fails_with_its_error(
    db_url: str, definition: str, error: str
) -> None:
    _run(db_url, "CREATE TABLE public.t (id int PRIMARY KEY, label text);")
    _run(db_url, "INSERT INTO public.t SELECT g, 'x' FROM generate_series(1, 100) g;")
    before = _checksum(db_url)
    bad = _index_step(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS t_rehearsed ON public.t {definition}")
    with pytest.raises(ApplyFailed) as caught:
        execute_plan(db_url, Plan((bad,), "", ""), dry_run=True, **LIMITS)  # type: ignore[arg-type]
    message = caught.value.message
    assert message.startswith("dry run: step 1") and error in message, message
    assert "its definition, built on an empty copy of public.t" in message
    assert _checksum(db_url) == before


def test_a_dry_run_of_a_good_online_index_builds_its_definition_but_not_on_the_data(db_url: str) -> None:
    _run(db_url, "CREATE TABLE public.t (id int PRIMARY KEY, label text);")
    before = _checksum(db_url)
    good = _index_step("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_rehearsed ON public.t (lower(label))")
    result = execute_plan(db_url, Plan((good,), "", ""), dry_run=True, **LIMITS)  # type: ignore[arg-type]
    [row] = result.steps
    assert row.status == "not rehearsed"
    assert row.detail == f"{NOT_REHEARSED}; definition built on an empty copy of public.t"
    assert _checksum(db_url) == before  # neither the index nor the copy is left


def test_a_plan_refused_after_one_offs_committed_names_them_and_records_the_run(
    db_url: str, tmp_path: Path
) -> None:
    from db.run.plan_apply import apply_schema

    _run(db_url, "CREATE EXTENSION IF NOT EXISTS timescaledb;\n" + EVENTS + HYPERTABLE)
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_note.sql").write_text("CREATE TABLE IF NOT EXISTS public.note (n int);\n")
    schema = (
        "CREATE EXTENSION IF NOT EXISTS timescaledb;\n"
        + EVENTS.replace("TABLE", "TABLE IF NOT EXISTS")
        + "CREATE TABLE IF NOT EXISTS public.note (n int);\n"
    )
    with pytest.raises(ApplyFailed) as caught:
        apply_schema(db_url, schema, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    message = caught.value.message
    # The one-off committed before the planner gap refused the master's plan: never "nothing changed".
    assert "one-off(s) 20260101000000_note.sql committed" in message and "planner gap" in message, message
    assert "nothing was changed" not in message
    report = caught.value.result
    assert report is not None and "nothing was changed" not in report.outcome  # type: ignore[attr-defined]
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.note')").fetchone() == ("note",)
        row = conn.execute(
            "SELECT outcome, objects_changed FROM schemaflow.migration_history ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row == ("failed", 1)
