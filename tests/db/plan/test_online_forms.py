"""Online forms by construction, locks as PostgreSQL takes them, and drops that would lose rows.

A database with rows (a plain table, a hypertable with chunks) is planned towards a file that adds an
index, a foreign key, a CHECK and a NOT NULL to the plain table and two indexes to the hypertable,
and no longer has one populated table.
"""

from __future__ import annotations

import psycopg
import pytest

from db.plan.database import plan_database
from db.plan.locks import STATEMENT_LOCKS
from db.plan.model import Hazard, LockLevel, Plan, Step
from db.plan.render import describe_step, render_script
from tests.db.plan.support import psql_file, run

TABLES = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE public.parent (id int PRIMARY KEY);
CREATE TABLE public.big (id int PRIMARY KEY, parent_id int, n int{n_not_null}, label text);
CREATE TABLE public.ev (t timestamptz NOT NULL, k int NOT NULL, v int);
SELECT create_hypertable('public.ev', by_range('t', INTERVAL '1 day'), create_default_indexes => FALSE);
"""
A = TABLES.format(n_not_null="") + "CREATE TABLE public.old_stuff (id int);\n"
ROWS = """
INSERT INTO public.parent SELECT g FROM generate_series(1, 10) g;
INSERT INTO public.big SELECT g, 1 + g % 10, g, 'x' FROM generate_series(1, 2000) g;
INSERT INTO public.ev SELECT now() - g * INTERVAL '1 hour', g % 7, g FROM generate_series(1, 72) g;
INSERT INTO public.old_stuff SELECT g FROM generate_series(1, 100) g;
ANALYZE;
"""
B = (
    TABLES.format(n_not_null=" NOT NULL")
    + """
CREATE INDEX big_n_idx ON public.big (n);
ALTER TABLE public.big ADD CONSTRAINT big_parent_fk FOREIGN KEY (parent_id) REFERENCES public.parent (id);
ALTER TABLE public.big ADD CONSTRAINT big_n_check CHECK (n >= 0);
CREATE INDEX ev_k_idx ON public.ev (k, t);
CREATE UNIQUE INDEX ev_uq ON public.ev (k, t);
"""
)
# More statements for the lock measurement: one of each kind that names a relation.
MORE = """
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER big_touch BEFORE UPDATE ON public.big FOR EACH ROW EXECUTE FUNCTION public.touch();
COMMENT ON TABLE public.big IS 'many rows';
ALTER TABLE public.big SET (fillfactor = 80);
ALTER TABLE public.big ENABLE ROW LEVEL SECURITY;
CREATE POLICY big_all ON public.big USING (true);
ALTER TABLE public.parent ADD COLUMN extra int;
CREATE RULE parent_keep AS ON DELETE TO public.parent DO INSTEAD NOTHING;
"""
# pg_locks mode names, strongest last (LockLevel's order).
_MODES = [level.value for level in LockLevel]


@pytest.fixture
def populated(db_url: str) -> str:
    run(db_url, A + ROWS)
    return db_url


def _one(plan: Plan, *words: str) -> Step:
    [step] = [s for s in plan.steps if all(w in s.sql for w in words)]
    return step


def test_online_forms_on_populated_tables(populated: str) -> None:
    plan = plan_database(populated, B)
    index = _one(plan, "big_n_idx")
    assert index.sql.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS big_n_idx ON public.big")
    assert (index.transactional, index.lock) == (False, LockLevel.SHARE_UPDATE_EXCLUSIVE)
    add_fk = _one(plan, "ADD CONSTRAINT big_parent_fk")
    assert add_fk.sql.endswith("NOT VALID") and add_fk.transactional
    assert (add_fk.lock, add_fk.relation, add_fk.also_locks) == (
        LockLevel.SHARE_ROW_EXCLUSIVE, "public.big", ("public.parent",)
    )  # fmt: skip
    validate = _one(plan, "VALIDATE CONSTRAINT big_parent_fk")
    assert not validate.transactional and Hazard.VALIDATES_DATA in validate.hazards
    assert validate.lock == LockLevel.SHARE_UPDATE_EXCLUSIVE
    assert _one(plan, "ADD CONSTRAINT big_n_check").sql.endswith("NOT VALID")
    not_null = [s.sql for s in plan.steps if s.name == "public.big.n"]
    assert not_null == [
        "ALTER TABLE public.big ADD CONSTRAINT n_not_null_schemaflow CHECK (n IS NOT NULL) NOT VALID",
        "ALTER TABLE public.big VALIDATE CONSTRAINT n_not_null_schemaflow",
        "ALTER TABLE public.big ALTER COLUMN n SET NOT NULL",
        "ALTER TABLE public.big DROP CONSTRAINT n_not_null_schemaflow",
    ]
    per_chunk = _one(plan, "ev_k_idx")
    assert per_chunk.sql.endswith("WITH (timescaledb.transaction_per_chunk)") and not per_chunk.transactional
    assert "CONCURRENTLY" not in per_chunk.sql
    assert per_chunk.size is not None and per_chunk.size.chunks and per_chunk.size.chunks >= 3
    unique = _one(plan, "ev_uq")
    assert unique.sql.startswith("CREATE UNIQUE INDEX IF NOT EXISTS ev_uq") and unique.transactional
    assert Hazard.BLOCKS_WRITES in unique.hazards
    big = _one(plan, "big_n_idx").size
    assert big is not None and big.estimated_rows == 2000 and big.bytes > 0
    # old_stuff holds rows: its DROP is left out and said so.
    assert not any("old_stuff" in s.sql for s in plan.steps)
    assert any("left out: DROP TABLE public.old_stuff" in note for note in plan.notes)

    psql_file(populated, render_script(plan))
    after = plan_database(populated, B)
    assert [s.sql for s in after.steps] == []
    destroy = plan_database(populated, B, allow_destroy=True)
    [drop] = destroy.steps
    assert drop.sql == "DROP TABLE public.old_stuff" and Hazard.DESTROYS_DATA in drop.hazards
    with psycopg.connect(populated) as conn:
        assert conn.execute("SELECT count(*) FROM public.big").fetchone() == (2000,)


def test_each_transactional_step_takes_the_documented_lock(populated: str) -> None:
    """Run each step alone inside BEGIN ... ROLLBACK and read pg_locks (results' lockinfo method)."""
    plan = plan_database(populated, B + MORE, allow_destroy=True)
    measured = {}
    with psycopg.connect(populated) as conn:
        for step in plan.steps:
            if not step.transactional or not step.relation:
                continue
            oid = conn.execute("SELECT to_regclass(%s)::oid", (step.relation,)).fetchone()[0]  # type: ignore[index]
            try:
                conn.execute(step.sql)  # type: ignore[arg-type]
            except psycopg.Error:
                conn.rollback()  # it needs an earlier step: not measured alone
                continue
            rows = conn.execute(
                "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = %s", (oid,)
            ).fetchall()
            conn.rollback()
            measured[step.sql] = (max((r[0] for r in rows), key=_MODES.index, default=None), step.lock)
    print("\n" + "\n".join(f"{got} (declared {want}): {sql}" for sql, (got, want) in measured.items()))
    assert len(measured) >= 8
    assert all(got == (want.value if want else None) for got, want in measured.values()), measured
    assert all(level is None or isinstance(level, LockLevel) for level in STATEMENT_LOCKS.values())


def test_a_hypertable_with_an_unanalyzed_chunk_shows_a_lower_bound(populated: str) -> None:
    # 10 rows in a new chunk: below autovacuum's analyze threshold (50), so it stays unanalyzed.
    new_chunk = "INSERT INTO public.ev SELECT now() + INTERVAL '3 days', g, g FROM generate_series(1, 10) g"
    run(populated, new_chunk)
    step = _one(plan_database(populated, B), "ev_k_idx")
    size = step.size
    assert size is not None and size.chunks is not None
    assert size.estimated_rows == -1  # not known empty: the planner keeps the online form
    assert step.sql.endswith("WITH (timescaledb.transaction_per_chunk)")
    assert size.chunks_unanalyzed == 1 and size.rows_in_analyzed_chunks == 72
    shown = f"at least ~72 (1 of {size.chunks} chunks never analyzed)"
    assert size.rows_shown == shown
    assert f"rows {shown}," in describe_step(step)
