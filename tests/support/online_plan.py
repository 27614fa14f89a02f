"""A hand-built plan of the three online changes issue 12 measures on a live listener_events.

An index on the hypertable (built per chunk), an index on a plain table (CONCURRENTLY), and a new
composite foreign key from listener_events to episodes (NOT VALID in the transaction, VALIDATE after).
Shared by tests/db/test_execute_load.py and benchmarks/bench_online_apply.py.
"""

from __future__ import annotations

from db.plan.model import Hazard, LockLevel, Plan, Step

HYPERTABLE_INDEX = "idx_listener_events_listener_id"
PLAIN_INDEX = "idx_episodes_title"
FOREIGN_KEY = "listener_events_episode_fk"


def online_plan(
    hypertable_index: str = HYPERTABLE_INDEX, foreign_key: bool = True, indexed: str = "listener_id"
) -> Plan:
    """The plan; without `foreign_key`, only the two index builds (for a database that has the key).

    `indexed` is what the hypertable index covers (a costlier expression makes a build slow enough to kill).
    """
    steps: tuple[Step, ...] = (
        Step(
            sql=f"ALTER TABLE public.listener_events ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY "
            "(tenant_id, episode_id) REFERENCES public.episodes (tenant_id, id) NOT VALID",
            kind="constraint",
            name=f"public.listener_events.{FOREIGN_KEY}",
            action="create",
            lock=LockLevel.SHARE_ROW_EXCLUSIVE,
            relation="public.listener_events",
        ),
        Step(
            sql=f"ALTER TABLE public.listener_events VALIDATE CONSTRAINT {FOREIGN_KEY}",
            kind="constraint",
            name=f"public.listener_events.{FOREIGN_KEY}",
            action="validate",
            transactional=False,
            lock=LockLevel.SHARE_UPDATE_EXCLUSIVE,
            relation="public.listener_events",
            hazards=(Hazard.VALIDATES_DATA,),
        ),
        Step(
            sql=f"CREATE INDEX IF NOT EXISTS {hypertable_index} ON public.listener_events ({indexed}) "
            "WITH (timescaledb.transaction_per_chunk)",
            kind="index",
            name=f"public.{hypertable_index}",
            action="create",
            transactional=False,
            lock=LockLevel.SHARE,
            relation="public.listener_events",
        ),
        Step(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {PLAIN_INDEX} ON public.episodes (title)",
            kind="index",
            name=f"public.{PLAIN_INDEX}",
            action="create",
            transactional=False,
            lock=LockLevel.SHARE_UPDATE_EXCLUSIVE,
            relation="public.episodes",
        ),
    )
    if not foreign_key:
        steps = tuple(s for s in steps if s.kind == "index")
    return Plan(steps=steps, schema_checksum="s" * 64, catalog_checksum="c" * 64, mode="apache")


def drop_online_changes_sql(hypertable_index: str = HYPERTABLE_INDEX) -> list[str]:
    """Statements that undo the plan, so a benchmark can measure it again on the same data."""
    return [
        f"ALTER TABLE public.listener_events DROP CONSTRAINT IF EXISTS {FOREIGN_KEY}",
        f"DROP INDEX IF EXISTS public.{hypertable_index}",
        f"DROP INDEX IF EXISTS public.{PLAIN_INDEX}",
    ]
