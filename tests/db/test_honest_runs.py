"""Honest runs: a dry run is the real run rolled back, and a failed run says exactly what committed."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from db.catalog.snapshot import snapshot_catalog
from db.errors import ApplyFailed
from db.plan.model import snapshot_checksum
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema

LIMITS = {"lock_timeout": "1s", "statement_timeout": "1min", "lock_retries": 1}
NOT_NULL_COLUMN = "\nALTER TABLE public.episodes ADD COLUMN IF NOT EXISTS rating integer NOT NULL;\n"
INDEX = "\nCREATE INDEX IF NOT EXISTS idx_episodes_title_dry ON public.episodes (title);\n"
COMMENT = "\nCOMMENT ON TABLE public.plans IS 'rehearsed';\n"


def _checksum(url: str, text: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return snapshot_checksum(snapshot_catalog(conn, ("public",)))


def _history_rows(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('schemaflow.migration_history')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT count(*) FROM schemaflow.migration_history").fetchone()
    return int(row[0]) if row else 0


def test_a_dry_run_of_a_not_null_column_over_rows_fails_naming_the_column_and_changes_nothing(
    seeded_url: str,
) -> None:
    clock = time.monotonic()
    text = read_schema() + NOT_NULL_COLUMN
    before = _checksum(seeded_url, text)
    runs = _history_rows(seeded_url)
    with pytest.raises(ApplyFailed) as caught:
        apply_schema(seeded_url, text, environment="test", dry_run=True, **LIMITS)  # type: ignore[arg-type]
    message = caught.value.message
    assert message.startswith("dry run: step 1") and "rating" in message, message
    assert 'column "rating" of relation "episodes" contains null values' in message
    assert "rolled back, nothing was changed" in message
    result = caught.value.result
    assert result.dry_run and result.outcome.startswith("failed, rolled back (dry run)")  # type: ignore[union-attr]
    assert [row["status"] for row in result.steps] == ["failed"]  # type: ignore[union-attr]
    assert _checksum(seeded_url, text) == before
    assert _history_rows(seeded_url) == runs  # a dry run records no run
    print(f"\nnot-null dry run: {time.monotonic() - clock:.1f} s")


def test_a_dry_run_of_an_applicable_change_runs_its_steps_rolls_back_and_leaves_the_catalog(
    seeded_url: str,
) -> None:
    clock = time.monotonic()
    text = read_schema() + COMMENT + INDEX
    before = _checksum(seeded_url, text)
    result = apply_schema(seeded_url, text, environment="test", dry_run=True, **LIMITS)  # type: ignore[arg-type]
    statuses = {row["sql"].split()[0]: (row["status"], row["detail"]) for row in result.steps}
    assert statuses["COMMENT"] == ("rehearsed", "")
    assert statuses["CREATE"] == (
        "not rehearsed",
        "not rehearsed on the data: runs outside a transaction; "
        "definition built on an empty copy of public.episodes",
    )
    assert "1 step(s) ran on the data in a transaction that was rolled back" in result.outcome
    assert "catalog checksum after the rollback equals the one before" in result.outcome
    assert _checksum(seeded_url, text) == before
    print(f"\napplicable dry run: {time.monotonic() - clock:.1f} s")


def test_a_dry_run_runs_a_pending_one_off_and_fails_with_its_error(seeded_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_bad_check.sql").write_text(
        "ALTER TABLE public.episodes ADD CONSTRAINT episodes_no_rows CHECK (false);\n"
        "-- schemaflow: down\nALTER TABLE public.episodes DROP CONSTRAINT episodes_no_rows;\n"
    )
    with pytest.raises(
        ApplyFailed, match=r"dry run: one-off 20260101000000_bad_check.sql failed: .*violated"
    ):
        apply_schema(
            seeded_url, read_schema(), environment="test", dry_run=True, migrations_dir=folder, **LIMITS
        )  # type: ignore[arg-type]
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('schemaflow.migration_versions')").fetchone() == (None,)
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'episodes_no_rows'"
        ).fetchone() == (0,)


def test_a_failed_online_step_after_a_committed_one_names_both_in_the_error_result_and_history(
    seeded_url: str,
) -> None:
    clock = time.monotonic()
    # Fails on every row (division by zero) in a way no data check predicts: an expression index.
    failing = (
        "\nCREATE INDEX IF NOT EXISTS idx_podcasts_zero ON public.podcasts ((1 / (length(title) * 0)));\n"
    )
    text = read_schema() + COMMENT + failing
    with pytest.raises(ApplyFailed) as caught:
        apply_schema(seeded_url, text, environment="test", **LIMITS)  # type: ignore[arg-type]
    message = caught.value.message
    assert "committed: step 1 (COMMENT ON TABLE public.plans" in message, message
    assert "not committed: step 2 (CREATE INDEX CONCURRENTLY" in message, message
    assert "nothing was changed" not in message and "the next run plans against what is there" in message
    result = caught.value.result
    assert result.outcome.startswith("failed: committed: step 1")  # type: ignore[union-attr]
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT outcome, objects_changed, changes, error_message FROM schemaflow.migration_history "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None and row[0] == "failed" and row[1] == 1, row
    assert row[2][0]["name"] == "1" and "COMMENT ON TABLE public.plans" in row[2][0]["detail"]
    assert "committed: step 1" in row[3]
    print(f"\nfailed online step: {time.monotonic() - clock:.1f} s")


def test_the_failure_artifact_says_nothing_changed_only_when_the_apply_proved_it() -> None:
    from db.deploy.result import ApplyResult
    from tasks.notify import step_action
    from tasks.reporting import RunReport

    report = RunReport(environment="local", target="x", preflight=[], backup_skipped="skipped")
    report.apply = ApplyResult(environment="local", checksum="c", mode="tsl", dry_run=False)
    report.apply.outcome = "failed: committed: step 1 (COMMENT ON ...); not committed: step 2 (...)"
    assert report.failed_step() == "apply-committed"
    assert "WERE committed" in step_action(report.failed_step(), "local", None)[0]
    report.apply.outcome = "failed, rolled back: nothing was changed"
    assert report.failed_step() == "apply"


SF005_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS public.pods (id int PRIMARY KEY, n int);\n"
    "ALTER TABLE public.pods ADD CONSTRAINT pods_n_positive CHECK (n > 0);\n"
)


def test_a_master_file_lint_finding_stops_plan_and_migrate_before_anything_runs(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main
    from db.errors import CheckFailed, ConfigError
    from db.schema.precheck import check_schema_file
    from tests.support.environments import use_test_environments

    schema = tmp_path / "sf005.sql"
    schema.write_text(SF005_SCHEMA)
    with pytest.raises(CheckFailed, match=r"lint: .*sf005.sql:2: SF005 alter-not-idempotent") as caught:
        check_schema_file(schema)
    assert "--allow-lint SF005" in (caught.value.hint or "")
    assert check_schema_file(schema, ["sf005"]) == SF005_SCHEMA  # a reviewed exception, named
    with pytest.raises(ConfigError, match="unknown lint rule"):
        check_schema_file(schema, ["SF999"])
    use_test_environments(tmp_path, db_url, monkeypatch)
    assert main(["plan", "--database-url", db_url, "--schema-file", str(schema)]) == 1
    assert "SF005" in capsys.readouterr().err
    assert main(["migrate", "--env", "dev", "--schema-file", str(schema)]) == 1
    assert "SF005" in capsys.readouterr().err
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.pods')").fetchone() == (None,)


HOLDS_PODCASTS = (
    "SET lock_timeout = 0; SET statement_timeout = 0;\n"
    "LOCK TABLE public.podcasts IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(25);\n"
)


def test_a_one_off_that_lifts_its_timeouts_and_locks_readers_out_is_refused_by_lint_and_by_migrate(
    seeded_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main
    from db.errors import CheckFailed

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_hold_podcasts.sql").write_text(HOLDS_PODCASTS)
    assert main(["lint-migrations", "--dir", str(folder)]) == 1
    printed = capsys.readouterr().out
    assert "SF102" in printed and "SET lock_timeout = 0 (no limit)" in printed
    assert "SF103" in printed and "LOCK public.podcasts IN ACCESS EXCLUSIVE MODE" in printed
    clock = time.monotonic()
    with pytest.raises(CheckFailed, match=r"hold_podcasts.sql line 1: SF102: SET lock_timeout = 0"):
        apply_schema(seeded_url, read_schema(), environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    assert time.monotonic() - clock < 20  # refused before it ran: nobody waited 25 s behind it
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('schemaflow.migration_versions')").fetchone() == (None,)


def test_the_run_keeps_the_environment_s_lock_timeout_whatever_a_one_off_sets(
    seeded_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    # A computed EXECUTE: no statement the lint can read (SF102 sees SET, RESET, set_config and a DO
    # block's literal statements); the run re-applies its limits after it all the same.
    (folder / "20260101000000_waits.sql").write_text(
        "DO $$ BEGIN EXECUTE format('SET lock_timeout = %s', 0); END $$;\n"
        "LOCK TABLE public.podcasts IN SHARE MODE;\n"
    )
    clock = time.monotonic()
    with psycopg.connect(seeded_url) as holder:
        holder.execute("LOCK TABLE public.podcasts IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(ApplyFailed, match=r"one-off 20260101000000_waits.sql:2 failed: gave up"):
            apply_schema(
                seeded_url, read_schema(), environment="test", migrations_dir=folder,
                lock_timeout="500ms", statement_timeout="20s", lock_retries=1,
            )  # fmt: skip
    waited = time.monotonic() - clock
    print(f"\none-off under the environment's lock_timeout gave up after {waited:.1f} s")
    assert waited < 15


def test_the_plan_predicts_what_the_rows_refuse_with_a_count_and_a_sample_key(seeded_url: str) -> None:
    from db.errors import CheckFailed
    from db.plan.data_checks import refuse_data_failures
    from db.plan.database import plan_database
    from db.plan.model import Hazard

    clock = time.monotonic()
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        episodes = conn.execute("SELECT count(*) FROM public.episodes").fetchone()[0]  # type: ignore[index]
        podcasts = conn.execute("SELECT count(*) FROM public.podcasts").fetchone()[0]  # type: ignore[index]
    unique = "\nCREATE UNIQUE INDEX IF NOT EXISTS idx_podcasts_one ON public.podcasts (tenant_id);\n"
    check = (
        "\nDO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'episodes_number_small')"
        " THEN ALTER TABLE public.episodes ADD CONSTRAINT episodes_number_small CHECK (episode_number < 2);"
        " END IF; END $$;\n"
    )
    plan = plan_database(seeded_url, read_schema() + NOT_NULL_COLUMN + unique + check)
    failing = {s.name: s for s in plan.steps if Hazard.FAILS_ON_DATA in s.hazards}
    notes = [n for n in plan.notes if "fails_on_data" in n]
    assert len(failing) == 3, (plan.notes, [(s.name, s.hazards) for s in plan.steps])
    assert any(
        f"{episodes:,} row(s) of public.episodes the new NOT NULL column rating" in n for n in notes
    ), notes
    assert any(
        "duplicated value(s) of (tenant_id) in public.podcasts (sample key tenant_id=" in n for n in notes
    )
    assert any("violating CHECK (episode_number < 2) (sample key id=" in n for n in notes), notes
    assert podcasts > 3  # three tenants: duplicates are certain
    with pytest.raises(
        CheckFailed, match=r"3 step\(s\) the data would refuse; nothing was changed and no backup"
    ):
        refuse_data_failures(plan, "production")
    print(f"\nplan with data checks: {time.monotonic() - clock:.1f} s")


@pytest.mark.usefixtures("prefect_harness")
def test_migrate_stops_before_the_backup_when_the_rows_refuse_a_step(
    seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.migrate import migrate
    from tests.support.environments import use_test_environments

    clock = time.monotonic()
    root = use_test_environments(tmp_path, seeded_url, monkeypatch)
    schema = root / "not_null.sql"
    schema.write_text(read_schema() + NOT_NULL_COLUMN)
    state = migrate(environment="production", confirm=True, schema_file=str(schema), return_state=True)
    assert state.is_failed()
    assert "fails_on_data" in (state.message or "") and "no backup was taken" in (state.message or "")
    backups = root / "backups"
    assert not backups.exists() or not [p for p in backups.rglob("*") if p.is_file()]
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        rating = (
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.episodes'::regclass AND attname = %s"
        )
        assert conn.execute(rating, ("rating",)).fetchone() == (0,)
    print(f"\nmigrate refused before the backup: {time.monotonic() - clock:.1f} s")


def test_plan_json_says_a_per_chunk_index_blocks_writes_chunk_by_chunk_and_a_rename_breaks_compatibility(
    seeded_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from cli.main import main

    clock = time.monotonic()
    schema = tmp_path / "changed.sql"
    index = "\nCREATE INDEX IF NOT EXISTS idx_le_listener ON public.listener_events (listener_id);\n"
    schema.write_text(read_schema().replace("    audio_url       text,", "    media_url       text,") + index)
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute("ANALYZE public.listener_events")
        largest = conn.execute(
            "SELECT max(c.reltuples)::bigint FROM timescaledb_information.chunks i JOIN pg_class c "
            "ON c.oid = format('%I.%I', i.chunk_schema, i.chunk_name)::regclass "
            "WHERE i.hypertable_name = 'listener_events'"
        ).fetchone()[0]  # type: ignore[index]
    assert main(["plan", "--database-url", seeded_url, "--schema-file", str(schema), "--json"]) == 1
    steps = {s["name"]: s for s in json.loads(capsys.readouterr().out)["steps"]}
    built = steps["public.idx_le_listener"]
    assert "timescaledb.transaction_per_chunk" in built["sql"] and "blocks_writes" in built["hazards"]
    assert "blocks writes to one chunk at a time" in built["reason"]
    assert f"has ~{largest:,} rows" in built["reason"], built["reason"]
    renamed = steps["public.episodes.media_url"]
    assert renamed["action"] == "rename" and renamed["hazards"] == ["breaks_compatibility"]
    print(f"\nplan --json hazards: {time.monotonic() - clock:.1f} s")


def test_a_report_a_dead_run_left_running_is_settled_and_an_interrupted_run_never_reads_running(
    tmp_path: Path,
) -> None:
    from tasks.reporting import RunReport, settle_previous_report, write_report_log

    log = tmp_path / "migrate-production.log"
    assert settle_previous_report(log) == ""  # no earlier run
    paused = RunReport(environment="production", target="x", flow_run="migrate-production-apply-h-1a2b3c")
    write_report_log(log, paused)  # what the run leaves on disk before its approval pause
    settled = settle_previous_report(log)
    assert "migrate-production-apply-h-1a2b3c" in settled and "left RUNNING by a process that died" in settled
    paused.interrupted("TerminationSignal")
    write_report_log(log, paused)
    text = log.read_text()
    assert "**RUNNING**" not in text and "- outcome: **INTERRUPTED**: interrupted (TerminationSignal)" in text
    assert "nothing was changed: it stopped before apply" in text
    assert settle_previous_report(log) == ""


SLOW_INDEX = """
CREATE OR REPLACE FUNCTION public.slow_id(n integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF current_setting('schemaflow_test.slow', true) = 'on' THEN PERFORM pg_sleep(0.3); END IF;
    RETURN n;
END $$;
CREATE INDEX IF NOT EXISTS idx_podcasts_slow ON public.podcasts (public.slow_id(length(title)));
"""
APPLY_DRIVER = """
import sys
from db.run.plan_apply import apply_schema
from db.errors import ApplyFailed
try:
    apply_schema(sys.argv[1], open(sys.argv[2]).read(), environment="test", lock_timeout="1s",
                 statement_timeout="5min", lock_retries=1, allow_hazards=["all"])
except ApplyFailed as exc:
    print(exc.message)
    sys.exit(exc.exit_code)
"""


def test_sigterm_during_an_online_index_build_names_the_committed_step_and_the_next_run_repairs_it(
    seeded_url: str, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    clock = time.monotonic()
    schema = tmp_path / "slow.sql"
    schema.write_text(read_schema() + SLOW_INDEX)
    database = seeded_url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} SET schemaflow_test.slow = 'on'")
    root = Path(__file__).resolve().parents[2]
    driver = [sys.executable, "-c", APPLY_DRIVER, seeded_url, str(schema)]
    process = subprocess.Popen(driver, cwd=root, stdout=subprocess.PIPE, text=True)
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        building = (
            "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'CREATE INDEX CONC%%'"
        )
        while conn.execute(building).fetchone() is None:
            assert process.poll() is None and time.monotonic() - clock < 120, process.communicate()
            time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 143, out
    assert "stopped by SIGTERM" in out and "after the schema change was committed" not in out, out
    assert "committed: step 1 (CREATE OR REPLACE FUNCTION public.slow_id" in out, out
    assert "not committed: step 2 (CREATE INDEX CONCURRENTLY" in out, out
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT objects_changed, error_message FROM schemaflow.migration_history ORDER BY id DESC LIMIT 1"
        ).fetchone()
        assert row is not None and row[0] == 1 and "committed: step 1" in row[1], row
        conn.execute(f"ALTER DATABASE {database} RESET schemaflow_test.slow")
    again = schema.read_text()
    rerun = apply_schema(seeded_url, again, environment="test", allow_hazards=["all"], **LIMITS)  # type: ignore[arg-type]
    # The build the SIGTERM cancelled left an invalid index: the rerun drops it and builds it again.
    assert [(r["sql"].split()[0], r["status"]) for r in rerun.steps] == [("DROP", "done"), ("CREATE", "done")]
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.idx_podcasts_slow'::regclass"
        assert conn.execute(valid).fetchone() == (True,)
    print(f"\nSIGTERM mid online build and the repairing rerun: {time.monotonic() - clock:.1f} s")


def test_a_check_that_is_not_about_the_rows_is_a_note_not_a_crash(db_url: str) -> None:
    from db.plan.data_checks import check_plan_data
    from db.plan.model import Plan, Step

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.plans (id int); INSERT INTO public.plans VALUES (1)")
    retype = Step(sql="ALTER TABLE public.plans ALTER COLUMN id TYPE uuid USING CAST(id AS uuid)",
                  kind="column", name="public.plans.id", action="alter")  # fmt: skip
    checked = check_plan_data(db_url, Plan(steps=(retype,), schema_checksum="s", catalog_checksum="c"))
    assert (
        checked.steps[0].hazards == () and "not checked: cannot cast type integer to uuid" in checked.notes[0]
    )


def test_a_dry_run_with_a_pending_rename_one_off_says_its_plan_was_made_before_the_one_off(
    seeded_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_rename_rss_url.sql").write_text(
        "ALTER TABLE public.podcasts RENAME COLUMN rss_url TO feed_url;\n"
        "-- schemaflow: down\nALTER TABLE public.podcasts RENAME COLUMN feed_url TO rss_url;\n"
    )
    renamed = read_schema().replace("    rss_url     text,", "    feed_url    text,", 1)
    result = apply_schema(
        seeded_url, renamed, environment="test", dry_run=True, migrations_dir=folder, **LIMITS
    )  # type: ignore[arg-type]
    assert "planned against the catalog before the 1 pending one-off(s)" in result.outcome, result.outcome
    assert "the real run plans again after they commit" in result.outcome
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.podcasts'::regclass AND attnum > 0"
        )}  # fmt: skip
    assert "rss_url" in names and "feed_url" not in names  # rolled back
    done = apply_schema(seeded_url, renamed, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    assert [c.kind for c in done.changes] == ["migration"], done.changes  # the rename is not planned again


HIDDEN_HOLDS = {
    # A computed EXECUTE: nothing the lint can read lifts lock_timeout or names the lock.
    "execute": "DO $$ BEGIN EXECUTE format('SET %s = %s', 'lock_timeout', '0'); "
    "EXECUTE format('LOCK TABLE %s IN %s MODE', 'public.podcasts', 'ACCESS EXCLUSIVE'); "
    "PERFORM pg_sleep(20); END $$;\n",
    # No lock statement at all: ALTER TABLE's own ACCESS EXCLUSIVE, then slow work in the transaction.
    "alter then work": "ALTER TABLE public.podcasts ADD COLUMN IF NOT EXISTS tmp_y int;\n"
    "CREATE OR REPLACE FUNCTION public.tmp_slow() RETURNS void LANGUAGE sql AS $f$ SELECT pg_sleep(20) $f$;\n"
    "SELECT public.tmp_slow();\n",
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry run"])
@pytest.mark.parametrize("form", sorted(HIDDEN_HOLDS))
def test_a_one_off_holding_a_lock_readers_wait_on_is_cancelled_after_lock_timeout(
    seeded_url: str, tmp_path: Path, form: str, dry_run: bool
) -> None:
    import threading

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_holds.sql").write_text(HIDDEN_HOLDS[form])
    waits: list[float] = []

    def reader() -> None:
        with psycopg.connect(seeded_url, autocommit=True) as conn:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not waits:
                held = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'public.podcasts'::regclass "
                    "AND mode = 'AccessExclusiveLock' AND granted"
                ).fetchone()
                if held and held[0]:
                    clock = time.monotonic()
                    conn.execute("SELECT count(*) FROM public.podcasts")
                    waits.append(time.monotonic() - clock)
                time.sleep(0.05)

    watcher = threading.Thread(target=reader)
    watcher.start()
    clock = time.monotonic()
    with pytest.raises(
        ApplyFailed, match=r"held a lock on public\.podcasts that kept 1 session\(s\) waiting"
    ) as err:
        apply_schema(
            seeded_url, read_schema(), environment="test", migrations_dir=folder, dry_run=dry_run, **LIMITS
        )  # type: ignore[arg-type]
    watcher.join()
    print(f"\n{form}: the reader waited {waits} s, the run ended after {time.monotonic() - clock:.1f} s")
    assert waits and waits[0] < 3, waits  # lock_timeout 1s, polled every 0.2 s: never the file's 20 s
    assert dry_run or "locks acknowledged" in (err.value.hint or "")
    assert ("dry run: one-off" in err.value.message) == dry_run
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_attribute "
            "WHERE attrelid = 'public.podcasts'::regclass AND attname = 'tmp_y'"
        ).fetchone() == (0,)  # rolled back


def test_the_data_check_of_a_unique_index_reads_its_expressions_and_its_predicate(seeded_url: str) -> None:
    from db.plan.database import plan_database
    from db.plan.model import Hazard

    # Three tenants' podcasts: lower(tenant_id::text) repeats among the rows with a title.
    unique = (
        "\nCREATE UNIQUE INDEX IF NOT EXISTS idx_podcasts_expr ON public.podcasts "
        "(lower(tenant_id::text)) WHERE title IS NOT NULL;\n"
    )
    plan = plan_database(seeded_url, read_schema() + unique)
    [step] = [s for s in plan.steps if s.name.endswith("idx_podcasts_expr")]
    assert Hazard.FAILS_ON_DATA in step.hazards, (step.hazards, plan.notes)
    assert any(
        "duplicated value(s) of (lower(CAST(tenant_id AS text))) in public.podcasts" in n for n in plan.notes
    ), plan.notes
    # A predicate no row meets: nothing duplicated under it, no hazard.
    none = unique.replace("title IS NOT NULL", "title IS NULL AND title IS NOT NULL")
    plan = plan_database(seeded_url, read_schema() + none)
    [step] = [s for s in plan.steps if s.name.endswith("idx_podcasts_expr")]
    assert Hazard.FAILS_ON_DATA not in step.hazards, plan.notes
