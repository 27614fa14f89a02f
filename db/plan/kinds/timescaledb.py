"""Hypertables, their dimensions, and the policies (background jobs) TimescaleDB runs on them."""

from __future__ import annotations

from db.plan.chunk_privileges import revoke_on_chunks_sql
from db.plan.context import DROP, KindPlanner, PlanContext, Planned
from db.plan.quoting import literal, qualified, regclass

_ADD_POLICY = {
    "policy_refresh_continuous_aggregate": (
        "add_continuous_aggregate_policy",
        ("start_offset", "end_offset"),
    ),
    "policy_compression": ("add_compression_policy", ("compress_after",)),
    "policy_retention": ("add_retention_policy", ("drop_after",)),
    "policy_reorder": ("add_reorder_policy", ("index_name",)),
}
_REMOVE_POLICY = {
    "policy_refresh_continuous_aggregate": "remove_continuous_aggregate_policy",
    "policy_compression": "remove_compression_policy",
    "policy_retention": "remove_retention_policy",
    "policy_reorder": "remove_reorder_policy",
}


def _interval(dim: dict) -> str:
    if dim.get("time_interval"):
        return f"INTERVAL {literal(dim['time_interval'])}"
    return str(dim["integer_interval"])


def _dimensions(ctx: PlanContext, table: str) -> list[tuple[str, dict]]:
    dims = ctx.children(ctx.expected, "dimension", f"hypertable:{table}")
    return sorted(dims, key=lambda d: d[1]["dimension_number"])


def _create_hypertable(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    dims = _dimensions(ctx, name)
    if not dims:
        ctx.notes.append(f"hypertable {name}: no dimension in the expected catalog; not planned")
        return []
    column, dim = dims[0][0].rsplit(".", 1)[1], dims[0][1]
    by = (
        f"by_hash({literal(column)}, {dim['num_partitions']})"
        if dim.get("num_partitions") and not dim.get("time_interval") and dim.get("integer_interval") is None
        else f"by_range({literal(column)}, {_interval(dim)})"
    )
    sql = (
        f"SELECT create_hypertable({regclass(name)}, {by}, if_not_exists => TRUE, migrate_data => TRUE, "
        "create_default_indexes => FALSE)"
    )
    steps = [
        ctx.step(
            f"hypertable:{name}",
            "create",
            sql,
            "create_hypertable",
            relation=name,
            rewrites=True,
            requires=(f"table:{name}", f"column:{name}.{column}"),
        )
    ]
    if e.get("compression_enabled"):
        steps += _compression(name, True, ctx)
    return steps


def _compression(name: str, enabled: bool, ctx: PlanContext) -> list[Planned]:
    sql = f"ALTER TABLE {qualified(name)} SET (timescaledb.compress = {'true' if enabled else 'false'})"
    return [
        ctx.step(f"hypertable:{name}", "alter", sql, "ALTER TABLE SET timescaledb.compress", relation=name)
    ]


def _drop_hypertable(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    if name in ctx.expected.get("table", {}):
        ctx.notes.append(
            f"hypertable {name}: TimescaleDB cannot turn a hypertable back into a plain table in place; "
            "not planned (copy its rows into a plain table and swap the names)"
        )
    return []  # when the table itself goes, DROP TABLE takes the hypertable with it


def _alter_hypertable(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    steps = []
    if e.get("compression_enabled") != a.get("compression_enabled"):
        steps += _compression(name, bool(e.get("compression_enabled")), ctx)
    extra = sorted(set(a.get("chunk_grants") or ()) - set(e.get("chunk_grants") or ()))
    if extra:
        # Every chunk is closed again, after the grants of this plan (which TimescaleDB copies).
        sql = revoke_on_chunks_sql(name, extra, ctx.role)
        steps.append(
            ctx.step(
                f"hypertable:{name}",
                "alter",
                sql,
                "GRANT",
                relation=name,
                requires=(f"grant:table {name}",),
                reason="chunks have no row-level security: a privilege on a chunk reaches every tenant",
            )
        )
    return steps  # the number of dimensions follows from the dimension entries


def _create_dimension(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    table, column = name.rsplit(".", 1)
    if e["dimension_number"] == 1 and f"hypertable:{table}" in ctx.created:
        return []  # create_hypertable made it
    by = (
        f"by_hash({literal(column)}, {e['num_partitions']})"
        if e.get("num_partitions")
        else f"by_range({literal(column)}, {_interval(e)})"
    )
    sql = f"SELECT add_dimension({regclass(table)}, {by}, if_not_exists => TRUE)"
    return [
        ctx.step(
            f"dimension:{name}",
            "create",
            sql,
            "add_dimension",
            relation=table,
            requires=(f"hypertable:{table}",),
        )
    ]


def _drop_dimension(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    ctx.notes.append(f"dimension {name}: TimescaleDB cannot remove a dimension; not planned")
    return []


def _alter_dimension(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    table = name.rsplit(".", 1)[0]
    steps = []
    key = f"dimension:{name}"
    column = literal(name.rsplit(".", 1)[1])
    if e.get("time_interval") != a.get("time_interval") or e.get("integer_interval") != a.get(
        "integer_interval"
    ):
        sql = f"SELECT set_chunk_time_interval({regclass(table)}, {_interval(e)}, dimension_name => {column})"
        steps.append(
            ctx.step(
                key,
                "alter",
                sql,
                "set_chunk_time_interval",
                relation=table,
                reason="applies to chunks created from now on",
            )
        )
    if e.get("num_partitions") != a.get("num_partitions") and e.get("num_partitions"):
        partitions = e["num_partitions"]
        sql = f"SELECT set_number_partitions({regclass(table)}, {partitions}, dimension_name => {column})"
        steps.append(ctx.step(key, "alter", sql, "set_chunk_time_interval", relation=table))
    return steps


def _value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return str(value)
    return f"INTERVAL {literal(str(value))}"


def _create_job(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    target, proc = name.rsplit(".", 1)
    known = _ADD_POLICY.get(proc)
    if not known:
        ctx.notes.append(f"job {name}: a custom job ({e['proc']}) is not planned; add it with add_job()")
        return []
    function, keys = known
    config = e.get("config") or {}
    args = [regclass(target)]
    for k in keys:
        if k in config:
            args.append(f"{k} => " + (literal(config[k]) if k == "index_name" else _value(config[k])))
    args.append(f"schedule_interval => INTERVAL {literal(e['schedule_interval'])}")
    args.append("if_not_exists => TRUE")
    sql = f"SELECT {function}({', '.join(args)})"
    return [ctx.step(f"job:{name}", "create", sql, "add policy")]


def _drop_job(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    target, proc = name.rsplit(".", 1)
    remove = _REMOVE_POLICY.get(proc)
    if not remove:
        ctx.notes.append(f"job {name}: a custom job ({a['proc']}) is not removed; use delete_job()")
        return []
    sql = f"SELECT {remove}({regclass(target)}, if_exists => TRUE)"
    return [ctx.step(f"job:{name}", "drop", sql, "remove policy", phase=DROP)]


def _alter_job(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    return None  # remove the policy and add it as defined


PLANNERS = {
    "hypertable": KindPlanner(_create_hypertable, _drop_hypertable, _alter_hypertable),
    "dimension": KindPlanner(_create_dimension, _drop_dimension, _alter_dimension),
    "job": KindPlanner(_create_job, _drop_job, _alter_job),
}
