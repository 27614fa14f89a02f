"""metrics_daily changing form: the one plan whose run applies the whole file instead of its steps.

Per capability metrics_daily is a table, a materialized view or a continuous aggregate. A catalog
diff can only drop and re-create it, empty; the file's guarded DO block carries every bucket over.
So a plan that drops metrics_daily itself runs the file (db/run/plan_apply.py), and its proof
(db/plan/proof.py) applies the file, not the steps, to the copy: it proves what will run.
"""

from __future__ import annotations

from db.plan.model import Hazard, LockLevel, Plan, Step

AGGREGATE = "metrics_daily"
AGGREGATE_KINDS = ("table", "matview", "cagg")  # the forms metrics_daily takes, per capability


def reshapes_aggregate(plan: Plan) -> bool:
    """The plan drops metrics_daily itself (its kind differs from the file's): a capability upgrade."""
    return any(
        step.action == "drop" and step.kind in AGGREGATE_KINDS and step.name.rsplit(".", 1)[-1] == AGGREGATE
        for step in plan.steps
    )


# The step a reshape stands for in the hazard gate and the approval form: the whole file in one
# transaction, holding listener_events against every writer while metrics_daily is carried over.
RESHAPE_STEP = Step(
    sql="-- the whole master file in one transaction: metrics_daily changes form, its rows carried over",
    kind="table",
    name="public.metrics_daily",
    action="reshape",
    lock=LockLevel.ACCESS_EXCLUSIVE,
    relation="public.listener_events",
    hazards=(Hazard.BLOCKS_WRITES, Hazard.BLOCKS_READS),
)
