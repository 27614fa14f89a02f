"""`plan_database`: the plan for one live database against the schema file, computed on its server.

The live side is snapshotted, the expected side is built by applying the file to a scratch database
beside it (db/catalog/drift.py), sizes are read for every relation, and the pure planner does the rest;
the plan is proven on a schema-only copy of the live catalog in the scratch database
(db/plan/proof.py), and the steps whose success depends on the rows are then checked against them
(db/plan/data_checks.py). All of it before the plan is shown, approved or run.
"""

from __future__ import annotations

from dataclasses import replace

from db.catalog.drift import DRIFT_SCHEMAS, compare_sides
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.plan.data_checks import check_plan_data
from db.plan.model import Plan
from db.plan.planner import plan_changes
from db.plan.proof import prove_plan
from db.plan.reshape import reshapes_aggregate
from db.plan.retention_hazards import retention_hazards
from db.plan.scoped_hazards import scope_hazards
from db.schema.master_file import read_schema


def plan_database(
    url: str,
    schema_sql: str | None = None,
    *,
    scratch_url: str | None = None,
    migrating_role: str | None = None,
    allow_destroy: bool = False,
    schemas: tuple[str, ...] | None = DRIFT_SCHEMAS,
    exclude_schemas: tuple[str, ...] = (),
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    prove: bool = True,
) -> Plan:
    """The Plan that takes the database at `url` to what `schema_sql` (default: the master file) builds.

    `migrating_role`: the role the plan will run as (default: the role that last migrated, see
    db/catalog/drift.py live_migrating_role). The plan's catalog_checksum pins the live snapshot.
    Raises PlannerGap (db/plan/proof.py) when the plan does not give what the file builds. `prove`:
    False only where no one is shown the plan: the re-plan after an apply (is anything left?) and
    benchmarks/bench_plan_proof.py, which measures what the proof costs.
    """
    sides = compare_sides(
        url,
        scratch_url=scratch_url,
        schema_sql=schema_sql,
        schemas=schemas,
        exclude_schemas=exclude_schemas,
        migrating_role=migrating_role,
        connect_timeout=connect_timeout,
    )
    plan = plan_changes(
        sides.expected,
        sides.actual,
        migrating_role=sides.migrating_role,
        allow_destroy=allow_destroy,
        sizes=sides.sizes,
        schema_checksum=sides.schema_checksum,
        mode=sides.mode,
        replays=sides.replays,
    )
    plan = replace(plan, scope=sides.scope)
    if prove:
        assert sides.site is not None and sides.capabilities is not None  # set by compare_sides
        proof = prove_plan(
            plan, expected=sides.expected, live=sides.actual, site=sides.site, view=sides.view,
            target=sides.capabilities, migrating_role=sides.migrating_role,
            runs_instead=(schema_sql or read_schema()) if reshapes_aggregate(plan) else None,
            connect_timeout=connect_timeout,
        )  # fmt: skip
        plan = replace(plan, proof=proof.describe())
    if plan.is_empty:
        return plan
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        plan = scope_hazards(conn, plan)  # per-chunk locks, renames, chunk-wide grants
        plan = retention_hazards(conn, plan)  # a shorter retention window destroys data
    # Before anyone sees it: the steps the rows would refuse carry fails_on_data (db/plan/data_checks.py).
    return check_plan_data(url, plan, connect_timeout=connect_timeout)
