"""Approval of the exact plan: the plan, its pinning by checksum, the hazard gate, the history row.

The pause itself (a paused deployment run resumed through the API) is tested end to end in
tests/e2e/test_approval.py; here the same code runs in-process under a temporary Prefect server.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from db.catalog.drift import check_drift
from db.connection.environments import approval_seconds, get_environment
from db.deploy.history import list_runs
from db.errors import CheckFailed, ConfigError
from db.local.seed import seed_data
from db.plan.model import Hazard, LockLevel, Plan, RelationSize, Step
from db.plan.render import describe_step
from db.run.plan_apply import target_is_empty
from db.schema.master_file import read_schema
from tasks.approval import (
    approval_form,
    approve,
    compute_plan,
    plan_markdown,
    refuse_unallowed_hazards,
)
from tests.support.environments import write_test_environments

SEASON_TYPE_SQL = """
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'public.episodes'::regclass AND attname = 'season_number'
"""
ENVIRONMENTS = """
[environments.approved]
require_backup = false
require_approval = true
approval_timeout = "5min"
"""


@pytest.fixture
def environments(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_test_environments(tmp_path, db_url, monkeypatch, ENVIRONMENTS)


def _plan(*hazards: Hazard) -> Plan:
    step = Step(
        sql="ALTER TABLE public.t ALTER COLUMN a TYPE bigint",
        kind="column",
        name="public.t.a",
        action="alter",
        lock=LockLevel.ACCESS_EXCLUSIVE,
        relation="public.t",
        hazards=hazards,
    )
    return Plan(steps=(step,), schema_checksum="s" * 64, catalog_checksum="c" * 64)


def test_approval_timeout_is_read_as_seconds_and_must_be_a_duration(
    environments: Path, tmp_path: Path
) -> None:
    assert (
        approval_seconds("1h") == 3600 and approval_seconds("90s") == 90 and approval_seconds("15min") == 900
    )
    env = get_environment("approved")
    assert env.require_approval and env.approval_timeout == "5min"
    bad = tmp_path / "bad.toml"
    bad.write_text('[environments.x]\napproval_timeout = "soon"\n')
    with pytest.raises(ConfigError, match="approval_timeout"):
        get_environment("x", bad)


def test_the_paused_run_asks_with_the_form_of_its_plan(environments: Path) -> None:
    plan = _plan(Hazard.REWRITES_TABLE, Hazard.BLOCKS_READS)
    form = approval_form(plan, get_environment("approved"))
    schema: dict[str, Any] = form.model_json_schema()
    assert set(schema["properties"]) == {"decision", "allow_hazards", "reason"}
    assert {"decision", "reason"} <= set(schema["required"])
    choices = schema["properties"]["allow_hazards"]["items"]["enum"]
    assert choices == ["blocks_reads", "rewrites_table"]
    assert f"`{plan.checksum[:16]}` `{plan.checksum[16:32]}`" in (form._description or "")
    with pytest.raises(ValueError):
        form(decision="approve", reason="fine", allow_hazards=["destroys_data"])


def test_the_form_names_every_hazard_it_offers_including_the_apply_s_own(environments: Path) -> None:
    from tasks.approval_form import approval_form_for

    plan = _plan(Hazard.REWRITES_TABLE)
    form = approval_form_for(plan, get_environment("approved"), ("blocks_writes",))
    choices = form.model_json_schema()["properties"]["allow_hazards"]["items"]["enum"]
    assert choices == ["blocks_writes", "rewrites_table"]
    assert "- hazards: **blocks_writes, rewrites_table**" in (form._description or "")


def test_the_plan_artifact_shows_the_sizes_of_the_tables_it_locks() -> None:
    step = Step(
        sql="CREATE INDEX CONCURRENTLY i ON public.listener_events (podcast_id)",
        kind="index",
        name="public.i",
        action="create",
        transactional=False,
        lock=LockLevel.SHARE_UPDATE_EXCLUSIVE,
        relation="public.listener_events",
        size=RelationSize("public.listener_events", 2_000_000, 512 * 1048576, 42),
    )
    text = plan_markdown(
        Plan(steps=(step,), schema_checksum="s" * 64, catalog_checksum="c" * 64), "prod", "x"
    )
    assert "| `public.listener_events` | ~2,000,000 | 512.0 MiB | 42 |" in text
    assert "expectation results before the change: not measured" in text
    # The Prefect UI never wraps a cell: the step table holds short words, the names go below it.
    table = text.split("| # | step | lock | where | rows | hazards |")[1].split("\n\n")[0]
    assert "| 1 | create index | Share Update Exclusive | online | ~2,000,000 | - |" in table
    assert "`" not in table and "1. `public.i` on `public.listener_events`" in text
    # Never analyzed (reltuples -1): said so, not printed as "-1 rows".
    unknown = replace(step, size=RelationSize("public.listener_events", -1, 8192))
    plan = Plan(steps=(unknown,), schema_checksum="s" * 64, catalog_checksum="c" * 64)
    text = plan_markdown(plan, "prod", "x")
    assert "| `public.listener_events` | unknown (never analyzed) | 8 KiB | - |" in text and "-1" not in text
    assert "rows unknown (never analyzed), 8,192 bytes" in describe_step(unknown)


def test_an_approval_that_does_not_allow_a_hazard_of_the_plan_stops_before_any_change(
    environments: Path,
) -> None:
    env = get_environment("approved")
    plan = _plan(Hazard.REWRITES_TABLE)
    with pytest.raises(CheckFailed, match="rewrites_table") as refused:
        refuse_unallowed_hazards(plan, env, [])
    assert "nothing was changed" in refused.value.message
    refuse_unallowed_hazards(plan, env, ["rewrites_table"])  # allowed: no error


def test_a_plan_checksum_pins_the_plan(environments: Path, db_url: str) -> None:
    env = get_environment("approved")
    plan = _plan()
    with pytest.raises(CheckFailed, match="not the approved"):
        approve(db_url, env, "", plan, "0" * 64)
    approval = approve(db_url, env, "", plan, plan.checksum)
    assert approval.plan is plan and approval.source.startswith("cli")


def test_the_plan_pins_the_catalog_and_an_empty_database_runs_the_whole_file(
    environments: Path, db_url: str
) -> None:
    env = get_environment("approved")
    text = read_schema()
    fresh, how = compute_plan(db_url, env, text)
    assert "whole master file" in how and target_is_empty(db_url, text)
    assert "public.listener_events" in {s.name for s in fresh.steps}
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.someone_elses (id int)")  # not the file's: still empty for it
    assert "whole master file" in compute_plan(db_url, env, text)[1]
    with psycopg.connect(db_url, autocommit=True) as conn:
        # One of the file's tables, made by hand (uuid: an int id's plan, id::uuid, cannot run and its
        # proof refuses it, tests/db/test_plan_proof.py).
        conn.execute("CREATE TABLE public.plans (id uuid)")
    again, how = compute_plan(db_url, env, text)
    assert "step by step" in how and not target_is_empty(db_url, text)
    assert again.catalog_checksum != fresh.catalog_checksum and again.checksum != fresh.checksum


@pytest.mark.usefixtures("prefect_harness")
def test_migrate_applies_only_the_plan_it_was_given_and_records_the_approval(
    environments: Path, db_url: str
) -> None:
    from flows.migrate import migrate

    state = migrate(environment="approved", plan_checksum="f" * 64, run_expectations=False, return_state=True)
    assert state.is_failed()
    with pytest.raises(CheckFailed, match="not the approved"):
        state.result()
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert list_runs(conn, "approved") == []  # refused before apply: no history, nothing changed
        assert conn.execute("SELECT to_regclass('public.listener_events')").fetchone() == (None,)

    planned = migrate(environment="approved", plan_only=True)
    assert planned["outcome"] == "success" and planned["history_id"] is None
    done = migrate(environment="approved", plan_checksum=planned["plan_checksum"], run_expectations=False)
    assert done["outcome"] == "success" and done["objects_changed"] > 20
    assert done["approval"]["plan_checksum"] == planned["plan_checksum"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = list_runs(conn, "approved", limit=1)[0]
    assert row["id"] == done["history_id"]
    assert row["plan_checksum"] == planned["plan_checksum"]
    assert row["approval_source"].startswith("cli")
    log = (environments / "logs" / "migrate-approved.log").read_text()
    assert f"plan `{planned['plan_checksum']}`" in log and "approved (cli" in log

    # A database that has the schema: the approved plan itself runs, step by step, and nothing else.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP INDEX public.idx_podcasts_tenant_id")
    planned = migrate(environment="approved", plan_only=True)
    done = migrate(environment="approved", plan_checksum=planned["plan_checksum"], run_expectations=False)
    assert done["outcome"] == "success" and done["objects_changed"] == 1, done
    assert done["approval"]["whole_file"] is False
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = list_runs(conn, "approved", limit=1)[0]
    assert row["id"] == done["history_id"] and row["plan_checksum"] == planned["plan_checksum"]
    assert not check_drift(db_url).has_drift


@pytest.mark.usefixtures("prefect_harness")
def test_an_approved_run_that_fails_still_records_its_approval(environments: Path, db_url: str) -> None:
    from flows.migrate import migrate

    planned = migrate(environment="approved", plan_only=True)
    migrate(environment="approved", plan_checksum=planned["plan_checksum"], run_expectations=False)
    with psycopg.connect(db_url) as conn:
        seed_data(conn, tenants=1, events=200, days=2)  # a populated episodes: retyping rewrites it
    retyped = environments / "retyped.sql"
    old = "    season_number   integer CHECK (season_number > 0),"
    retyped.write_text(read_schema().replace(old, "    season_number   bigint CHECK (season_number > 0),"))
    planned = migrate(environment="approved", plan_only=True, schema_file=str(retyped))
    hazards = ["rewrites_table", "blocks_writes", "blocks_reads"]
    with psycopg.connect(db_url) as reader:  # an analyst's open transaction: the retype cannot lock
        reader.execute("SELECT count(*) FROM public.episodes")
        state = migrate(
            environment="approved", plan_checksum=planned["plan_checksum"], schema_file=str(retyped),
            allow_hazards=hazards, run_expectations=False, return_state=True,
        )  # fmt: skip
    assert state.is_failed()
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = list_runs(conn, "approved", limit=1)[0]
        assert conn.execute(SEASON_TYPE_SQL).fetchone() == ("integer",)
    assert row["outcome"] == "failed" and "lock" in row["error_message"], row
    assert row["plan_checksum"] == planned["plan_checksum"] and row["approval_source"].startswith("cli")
