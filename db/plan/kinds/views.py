"""Views, materialized views and continuous aggregates.

A view whose query changes is dropped and created again, never CREATE OR REPLACE'd: OR REPLACE
refuses a changed column list, and the graph already drops and re-creates whatever reads the view
(with its grants and comments). Options alone (security_barrier, ...) change in place.
"""

from __future__ import annotations

from db.plan.context import DROP, KindPlanner, PlanContext, Planned
from db.plan.quoting import qualified

_KEYWORD = {"view": "VIEW", "matview": "MATERIALIZED VIEW", "cagg": "MATERIALIZED VIEW"}


def _query(definition: str) -> str:
    return definition.strip().rstrip(";").strip()


def _with(options: list[str] | None) -> str:
    return f" WITH ({', '.join(options)})" if options else ""


def _create_view(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"CREATE VIEW {qualified(name)}{_with(e.get('options'))} AS\n{_query(e['definition'])}"
    return [ctx.step(f"view:{name}", "create", sql, "CREATE VIEW")]


def _create_matview(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    sql = (
        f"CREATE MATERIALIZED VIEW {qualified(name)}{_with(e.get('options'))} AS\n"
        f"{_query(e['definition'])}\nWITH DATA"
    )
    return [ctx.step(f"matview:{name}", "create", sql, "CREATE MATERIALIZED VIEW")]


def _create_cagg(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    only = "true" if e.get("materialized_only") else "false"
    sql = (
        f"CREATE MATERIALIZED VIEW {qualified(name)}\n"
        f"WITH (timescaledb.continuous, timescaledb.materialized_only = {only}) AS\n"
        f"{_query(e['definition'])}\nWITH NO DATA"
    )
    # TimescaleDB refuses a continuous aggregate over a hypertable with row-level security on:
    # lift it around the CREATE, inside the same transaction (nobody sees the gap: ALTER TABLE
    # holds ACCESS EXCLUSIVE until commit).
    sources = [
        d.split(":", 1)[1]
        for d in e.get("depends_on", ())
        if d.startswith("hypertable:")
        and ctx.expected.get("rls", {}).get(d.split(":", 1)[1], {}).get("enabled")
    ]
    off = "".join(f"ALTER TABLE {qualified(t)} DISABLE ROW LEVEL SECURITY;\n" for t in sources)
    on = "".join(f";\nALTER TABLE {qualified(t)} ENABLE ROW LEVEL SECURITY" for t in sources)
    steps = [ctx.step(f"cagg:{name}", "create", f"{off}{sql}{on}", "CREATE MATERIALIZED VIEW")]
    if e.get("compression_enabled"):
        steps += _cagg_options(name, {"compression_enabled": True}, ctx)
    return steps


def _drop(kind: str) -> object:
    def drop(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
        sql = f"DROP {_KEYWORD[kind]} {qualified(name)}"
        return [ctx.step(f"{kind}:{name}", "drop", sql, f"DROP {_KEYWORD[kind]}", relation=name, phase=DROP)]

    return drop


def _alter_view(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    if e["definition"] != a["definition"]:
        return None
    return _options(f"view:{name}", "VIEW", e, a, ctx)


def _alter_matview(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    if e["definition"] != a["definition"]:
        return None
    return _options(f"matview:{name}", "MATERIALIZED VIEW", e, a, ctx)


def _options(key: str, keyword: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    name = key.split(":", 1)[1]
    want = dict(o.split("=", 1) for o in e.get("options") or [])
    have = dict(o.split("=", 1) for o in a.get("options") or [])
    steps = []
    changed = [f"{k}={v}" for k, v in sorted(want.items()) if have.get(k) != v]
    removed = sorted(k for k in have if k not in want)
    statement = "ALTER VIEW" if keyword == "VIEW" else "ALTER MATERIALIZED VIEW SET"
    if changed:
        sql = f"ALTER {keyword} {qualified(name)} SET ({', '.join(changed)})"
        steps.append(ctx.step(key, "alter", sql, statement, relation=name))
    if removed:
        sql = f"ALTER {keyword} {qualified(name)} RESET ({', '.join(removed)})"
        steps.append(ctx.step(key, "alter", sql, statement, relation=name))
    return steps


def _cagg_options(name: str, e: dict, ctx: PlanContext, a: dict | None = None) -> list[Planned]:
    a = a or {}
    parts = []
    if "materialized_only" in e and e.get("materialized_only") != a.get("materialized_only"):
        parts.append(f"timescaledb.materialized_only = {'true' if e['materialized_only'] else 'false'}")
    if e.get("compression_enabled") != a.get("compression_enabled"):
        parts.append(f"timescaledb.compress = {'true' if e['compression_enabled'] else 'false'}")
    return [
        ctx.step(
            f"cagg:{name}",
            "alter",
            f"ALTER MATERIALIZED VIEW {qualified(name)} SET ({p})",
            "ALTER MATERIALIZED VIEW SET",
            relation=name,
        )
        for p in parts
    ]


def _alter_cagg(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    if e["definition"] != a["definition"]:
        return None
    return _cagg_options(name, e, ctx, a)


PLANNERS = {
    "view": KindPlanner(_create_view, _drop("view"), _alter_view),  # type: ignore[arg-type]
    "matview": KindPlanner(_create_matview, _drop("matview"), _alter_matview),  # type: ignore[arg-type]
    "cagg": KindPlanner(_create_cagg, _drop("cagg"), _alter_cagg),  # type: ignore[arg-type]
}
