"""`plan_database`: the plan for one live database against the schema file, computed on its server.

The live side is snapshotted, the expected side is built by applying the file to a scratch database
beside it (db/catalog/drift.py), sizes are read for every relation, and the pure planner does the rest;
the steps whose success depends on the rows are then checked against them (db/plan/data_checks.py).
"""

from __future__ import annotations

from dataclasses import replace

from db.catalog.drift import DRIFT_SCHEMAS, compare_sides
from db.connection.connect import DEFAULT_CONNECT_TIMEOUT, connect
from db.plan.data_checks import check_plan_data
from db.plan.model import Plan
from db.plan.planner import plan_changes
from db.plan.retention_hazards import retention_hazards
from db.plan.scoped_hazards import scope_hazards


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
) -> Plan:
    """The Plan that takes the database at `url` to what `schema_sql` (default: the master file) builds.

    `migrating_role`: the role the plan will run as (default: the role that last migrated, see
    db/catalog/drift.py live_migrating_role). The plan's catalog_checksum pins the live snapshot.
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
    if plan.is_empty:
        return plan
    with connect(url, autocommit=True, connect_timeout=connect_timeout) as conn:
        plan = scope_hazards(conn, plan)  # per-chunk locks, renames, chunk-wide grants
        plan = retention_hazards(conn, plan)  # a shorter retention window destroys data
    # Before anyone sees it: the steps the rows would refuse carry fails_on_data (db/plan/data_checks.py).
    return check_plan_data(url, plan, connect_timeout=connect_timeout)
