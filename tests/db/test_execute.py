"""execute_plan against real databases, with hand-built Plans (independent of the planner)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from db.deploy.apply import apply_master_schema
from db.deploy.execute import execute_plan
from db.errors import ApplyFailed, ConfigError, HazardsNotAllowed
from db.plan.model import Hazard, LockLevel, Plan, Step

BASE = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE IF NOT EXISTS public.owners (id int PRIMARY KEY, name text);
CREATE TABLE IF NOT EXISTS public.items (id int PRIMARY KEY, owner_id int, label text, code text);
CREATE TABLE IF NOT EXISTS public.events (at timestamptz NOT NULL, owner_id int NOT NULL, n int);
SELECT create_hypertable('public.events', 'at', chunk_time_interval => interval '1 day',
                         if_not_exists => TRUE);
"""
SEED = """
INSERT INTO public.owners SELECT i, 'owner ' || i FROM generate_series(1, 50) i ON CONFLICT DO NOTHING;
INSERT INTO public.items SELECT i, 1 + i % 50, 'item ' || i, 'c' || i FROM generate_series(1, 5000) i
ON CONFLICT DO NOTHING;
INSERT INTO public.events SELECT now() - (i || ' minutes')::interval, 1 + i % 50, i
FROM generate_series(1, 20000) i;
"""


CHUNK_INDEXES = (
    "SELECT count(*) FROM _timescaledb_catalog.chunk_index WHERE hypertable_index_name = 'idx_events_n'"
)


def _plan(*steps: Step) -> Plan:
    return Plan(steps=tuple(steps), schema_checksum="s" * 64, catalog_checksum="c" * 64, mode="apache")


def _setup(url: str) -> None:
    apply_master_schema(url, BASE, record_history=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED)  # type: ignore[arg-type]


def _one(url: str, query: str, params: tuple = ()) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


ADD_COLUMN = Step(
    sql="ALTER TABLE public.items ADD COLUMN IF NOT EXISTS note text",
    kind="column",
    name="public.items.note",
    action="create",
    lock=LockLevel.ACCESS_EXCLUSIVE,
    relation="public.items",
)
ADD_FK = Step(
    sql="ALTER TABLE public.items ADD CONSTRAINT items_owner_fk FOREIGN KEY (owner_id) "
    "REFERENCES public.owners (id) NOT VALID",
    kind="constraint",
    name="public.items.items_owner_fk",
    action="create",
    lock=LockLevel.SHARE_ROW_EXCLUSIVE,
    relation="public.items",
)
VALIDATE_FK = Step(
    sql="ALTER TABLE public.items VALIDATE CONSTRAINT items_owner_fk",
    kind="constraint",
    name="public.items.items_owner_fk",
    action="validate",
    transactional=False,
    lock=LockLevel.SHARE_UPDATE_EXCLUSIVE,
    relation="public.items",
    hazards=(Hazard.VALIDATES_DATA,),
)
PLAIN_INDEX = Step(
    sql="CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_items_label ON public.items (label)",
    kind="index",
    name="public.idx_items_label",
    action="create",
    transactional=False,
    lock=LockLevel.SHARE_UPDATE_EXCLUSIVE,
    relation="public.items",
)
HYPERTABLE_INDEX = Step(
    sql="CREATE INDEX IF NOT EXISTS idx_events_n ON public.events (n) "
    "WITH (timescaledb.transaction_per_chunk)",
    kind="index",
    name="public.idx_events_n",
    action="create",
    transactional=False,
    lock=LockLevel.SHARE,
    relation="public.events",
)
NOT_NULL_STEPS = (
    Step(
        sql="ALTER TABLE public.items ADD CONSTRAINT items_label_nn CHECK (label IS NOT NULL) NOT VALID",
        kind="column",
        name="public.items.label",
        action="alter",
        lock=LockLevel.ACCESS_EXCLUSIVE,
        relation="public.items",
    ),
    Step(
        sql="ALTER TABLE public.items VALIDATE CONSTRAINT items_label_nn",
        kind="column",
        name="public.items.label",
        action="validate",
        transactional=False,
        lock=LockLevel.SHARE_UPDATE_EXCLUSIVE,
        relation="public.items",
    ),
    Step(
        sql="ALTER TABLE public.items ALTER COLUMN label SET NOT NULL",
        kind="column",
        name="public.items.label",
        action="alter",
        transactional=False,
        lock=LockLevel.ACCESS_EXCLUSIVE,
        relation="public.items",
    ),
    Step(
        sql="ALTER TABLE public.items DROP CONSTRAINT items_label_nn",
        kind="column",
        name="public.items.label",
        action="alter",
        transactional=False,
        lock=LockLevel.ACCESS_EXCLUSIVE,
        relation="public.items",
    ),
)


def _index_valid(url: str, name: str) -> bool | None:
    return _one(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,))  # type: ignore[return-value]


def test_transactional_then_online_steps_apply_and_report_each_step(db_url: str) -> None:
    _setup(db_url)
    plan = _plan(ADD_COLUMN, ADD_FK, VALIDATE_FK, PLAIN_INDEX, HYPERTABLE_INDEX, *NOT_NULL_STEPS)
    result = execute_plan(db_url, plan, environment="test", allow_hazards=["all"])
    assert [s.status for s in result.steps] == ["done"] * len(plan.steps)
    assert result.transaction_attempts == 1
    assert all(s.seconds > 0 and s.attempts == 1 and s.lock_wait_seconds >= 0 for s in result.steps)
    assert result.steps[3].lock == "ShareUpdateExclusiveLock" and not result.steps[3].transactional
    rows = result.rows()
    assert rows[4]["where"] == "online" and "transaction_per_chunk" in rows[4]["sql"]
    assert _index_valid(db_url, "public.idx_items_label") is True
    assert _index_valid(db_url, "public.idx_events_n") is True
    chunks, with_index = (
        _one(db_url, "SELECT count(*) FROM show_chunks('public.events')"),
        _one(
            db_url,
            CHUNK_INDEXES,
        ),
    )
    assert chunks == with_index and chunks and int(chunks) > 5  # type: ignore[call-overload]
    assert _one(db_url, "SELECT convalidated FROM pg_constraint WHERE conname = 'items_owner_fk'") is True
    assert _one(db_url, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'public.items'::regclass "
                "AND attname = 'label'") is True  # fmt: skip
    # Every online step is idempotent: the same plan again changes nothing and fails nothing.
    again = execute_plan(
        db_url, _plan(VALIDATE_FK, PLAIN_INDEX, HYPERTABLE_INDEX), environment="test", allow_hazards=["all"]
    )
    assert [s.status for s in again.steps] == ["done"] * 3 and not any(s.detail for s in again.steps)


def test_an_empty_plan_runs_no_ddl_while_other_sessions_hold_locks_on_every_table(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_master_schema(db_url, record_history=False)  # the real master file: every table
    sent: list[str] = []
    real_execute = psycopg.Connection.execute

    def recording_execute(self: psycopg.Connection, query: object, *args: object, **kwargs: object) -> object:
        sent.append(query.as_string(self) if hasattr(query, "as_string") else str(query))
        return real_execute(self, query, *args, **kwargs)  # type: ignore[call-overload]

    with psycopg.connect(db_url) as reader, psycopg.connect(db_url) as writer:
        tables = [
            r[0]
            for r in reader.execute(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        assert len(tables) > 20
        for table in tables:  # an analyst's long read of every table, and an open write transaction
            reader.execute(f"SELECT count(*) FROM {table}")  # type: ignore[arg-type]
            writer.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")  # type: ignore[arg-type]
        monkeypatch.setattr(psycopg.Connection, "execute", recording_execute)
        clock = time.monotonic()
        result = execute_plan(db_url, _plan(), environment="staging", lock_timeout="100ms")
        seconds = time.monotonic() - clock
        monkeypatch.undo()
        assert result.steps == [] and result.statements_run == 0
        assert seconds < 5, seconds  # nothing waited on the open transactions
    assert sent, "the executor's statements were recorded"
    assert all(q.lstrip().upper().startswith("SELECT") for q in sent), sent  # catalog reads only


def test_a_hazard_not_allowed_stops_before_any_change_and_says_how_to_allow_it(db_url: str) -> None:
    _setup(db_url)
    retype = Step(
        sql="ALTER TABLE public.items ALTER COLUMN code TYPE varchar(40)",
        kind="column",
        name="public.items.code",
        action="alter",
        lock=LockLevel.ACCESS_EXCLUSIVE,
        relation="public.items",
        hazards=(Hazard.REWRITES_TABLE, Hazard.BLOCKS_WRITES, Hazard.BLOCKS_READS),
    )
    plan = _plan(ADD_COLUMN, retype)
    with pytest.raises(HazardsNotAllowed) as caught:
        execute_plan(db_url, plan, environment="staging", allow_hazards=())
    message, hint = caught.value.message, caught.value.hint or ""
    assert "step 2: alter column public.items.code" in message and "nothing was changed" in message
    assert "--allow-hazard rewrites_table" in hint and "--allow-hazard blocks_reads" in hint
    assert caught.value.steps == [retype]
    assert _one(db_url, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.items'::regclass "
                "AND attname = 'note'") == 0  # fmt: skip
    with pytest.raises(HazardsNotAllowed):  # one kind allowed is not all of them
        execute_plan(db_url, plan, environment="staging", allow_hazards=["rewrites_table"])
    with pytest.raises(ConfigError, match="unknown hazard"):
        execute_plan(db_url, plan, environment="staging", allow_hazards=["rewrite_table"])
    allowed = ["rewrites_table", "blocks_writes", "blocks_reads"]
    done = execute_plan(db_url, plan, environment="staging", allow_hazards=allowed)
    assert [s.status for s in done.steps] == ["done", "done"]
    assert (
        _one(
            db_url,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'public.items'::regclass AND attname = 'code'",
        )
        == "character varying(40)"
    )


def test_a_lock_timeout_retries_the_transaction_and_measures_the_wait(db_url: str) -> None:
    _setup(db_url)
    with psycopg.connect(db_url) as blocker:
        blocker.execute("SELECT count(*) FROM public.items")  # ACCESS SHARE until rollback
        release = threading.Timer(0.8, blocker.rollback)
        release.start()
        result = execute_plan(
            db_url, _plan(ADD_COLUMN), environment="test", lock_timeout="200ms", lock_retries=6
        )
        release.join()
    assert result.transaction_attempts > 1
    step = result.steps[0]
    assert step.status == "done" and step.attempts == result.transaction_attempts
    assert step.lock_wait_seconds >= 0.15, step  # at least most of one 200 ms lock_timeout, sampled


def test_a_broken_transactional_step_rolls_back_every_step(db_url: str) -> None:
    _setup(db_url)
    broken = Step(sql="ALTER TABLE public.items ADD COLUMN oops no_such_type", kind="column",
                  name="public.items.oops", action="create", relation="public.items")  # fmt: skip
    with pytest.raises(ApplyFailed) as caught:
        execute_plan(db_url, _plan(ADD_COLUMN, broken, PLAIN_INDEX), environment="test")
    assert "step 2 (create column public.items.oops" in caught.value.message
    assert "rolled back, nothing was changed" in caught.value.message
    assert _one(db_url, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.items'::regclass "
                "AND attname = 'note'") == 0  # fmt: skip
    assert _index_valid(db_url, "public.idx_items_label") is None  # online steps never started


def test_an_invalid_index_left_by_a_failed_concurrent_build_is_rebuilt_never_reported_done(
    db_url: str,
) -> None:
    _setup(db_url)
    unique = Step(
        sql="CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_items_owner_u ON public.items (owner_id)",
        kind="index",
        name="public.idx_items_owner_u",
        action="create",
        transactional=False,
        lock=LockLevel.SHARE_UPDATE_EXCLUSIVE,
        relation="public.items",
    )
    with pytest.raises(ApplyFailed) as caught:  # owner_id repeats: the build fails, the index stays invalid
        execute_plan(db_url, _plan(unique), environment="test")
    assert "could not create unique index" in caught.value.message
    assert _index_valid(db_url, "public.idx_items_owner_u") is False
    # A rerun with the data still wrong: the leftover is dropped, the build fails again, not "done".
    with pytest.raises(ApplyFailed):
        execute_plan(db_url, _plan(unique), environment="test")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE public.items SET owner_id = id")
    result = execute_plan(db_url, _plan(unique), environment="test")
    assert result.steps[0].status == "done"
    assert result.steps[0].detail.startswith("rebuilt: an earlier build had left it invalid")
    assert _index_valid(db_url, "public.idx_items_owner_u") is True


def test_a_hypertable_index_build_interrupted_midway_is_rebuilt_on_every_chunk(db_url: str) -> None:
    """Measured: a cancelled transaction_per_chunk build leaves the hypertable's index invalid and
    only some chunks indexed; IF NOT EXISTS alone would then skip it for ever."""
    _setup(db_url)
    # Interrupted for certain, however fast the machine: the newest chunk is locked by another
    # session, so the per-chunk build gives up there, after the older chunks were indexed.
    newest = _one(db_url, "SELECT c::text FROM show_chunks('public.events') AS c ORDER BY c DESC LIMIT 1")
    with psycopg.connect(db_url) as blocker, psycopg.connect(db_url, autocommit=True) as conn:
        blocker.execute(f"LOCK TABLE {newest} IN ROW EXCLUSIVE MODE")
        conn.execute("SET lock_timeout = '300ms'")
        with pytest.raises((psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)):
            conn.execute(HYPERTABLE_INDEX.sql)  # type: ignore[arg-type]
        blocker.rollback()
        partial = conn.execute(CHUNK_INDEXES).fetchone()
        chunks = conn.execute("SELECT count(*) FROM show_chunks('public.events')").fetchone()
    assert _index_valid(db_url, "public.idx_events_n") is False
    assert partial is not None and chunks is not None and partial[0] < chunks[0]
    result = execute_plan(db_url, _plan(HYPERTABLE_INDEX), environment="test")
    assert result.steps[0].status == "done" and "rebuilt" in result.steps[0].detail, result.steps[0]
    assert _index_valid(db_url, "public.idx_events_n") is True
    indexed = _one(
        db_url,
        CHUNK_INDEXES,
    )
    assert indexed == chunks[0]


def test_an_online_step_that_meets_a_lock_is_retried_alone_with_backoff(db_url: str) -> None:
    _setup(db_url)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    with psycopg.connect(db_url) as blocker:
        # SHARE UPDATE EXCLUSIVE: what a running VACUUM or another index build holds; CONCURRENTLY waits.
        blocker.execute("LOCK TABLE public.items IN SHARE UPDATE EXCLUSIVE MODE")
        release = threading.Timer(0.8, blocker.rollback)
        release.start()
        result = execute_plan(
            db_url, _plan(PLAIN_INDEX), environment="test", lock_timeout="200ms", lock_retries=8, sleep=sleep
        )
        release.join()
    step = result.steps[0]
    assert step.status == "done" and step.attempts > 1 and len(sleeps) == step.attempts - 1
    assert result.transaction_attempts == 0  # no transactional step, no transaction
    assert _index_valid(db_url, "public.idx_items_label") is True
