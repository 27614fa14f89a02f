"""The planner: from two catalog snapshots to an ordered Plan (the one source of SQL in schemaflow).

`plan_changes(expected, actual)` is a pure function. It infers renames (db/plan/renames.py), asks
each kind's generator (db/plan/kinds/) how to alter what changed, drops and re-creates what cannot be
altered in place together with everything that depends on it on the live side (views over a
retyped column, policies calling a re-created function: with their grants, owners and comments, which
are their children), creates what is missing, drops what is unexpected, and lets one dependency graph
(db/plan/order.py) put the steps in order. A step that would destroy rows is left out unless
`allow_destroy`, and the plan's notes say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from db.catalog.replay_checks import NeededReplay
from db.catalog.snapshot import KINDS, PARENT, compared_attributes
from db.plan.context import KindPlanner, PlanContext, Planned
from db.plan.kinds import code, columns, keys, relations, security, timescaledb, views
from db.plan.model import Hazard, Plan, RelationSize, snapshot_checksum
from db.plan.order import order_steps
from db.plan.renames import infer_renames
from db.schema.replayed import PASSWORD

PLANNERS: dict[str, KindPlanner] = {
    **relations.PLANNERS,
    **columns.PLANNERS,
    **keys.PLANNERS,
    **views.PLANNERS,
    **code.PLANNERS,
    **security.PLANNERS,
    **timescaledb.PLANNERS,
}
assert set(PLANNERS) == set(KINDS), set(KINDS) ^ set(PLANNERS)
# Roles first: grants and policies name them, and pg_depend does not record that (pg_shdepend does).
GENERATION_ORDER = ("role", "role_membership", *(k for k in KINDS if not k.startswith("role")))
# What is dropped and created again around an object whose change breaks its dependents.
REBUILT_AROUND_COLUMN = frozenset({"view", "matview", "cagg", "policy", "trigger", "rule"})
REBUILT_AROUND_OBJECT = REBUILT_AROUND_COLUMN | {"constraint", "index"}
Snapshot = dict[str, dict[str, dict[str, Any]]]


def plan_changes(
    expected: Snapshot,
    actual: Snapshot,
    *,
    migrating_role: str | None = None,
    allow_destroy: bool = False,
    sizes: dict[str, RelationSize] | None = None,
    schema_checksum: str = "",
    mode: str = "",
    replays: Sequence[NeededReplay] = (),
) -> Plan:
    """The steps that make `actual` (the live catalog) equal to `expected` (what the file builds).

    `replays`: the file's statements no catalog shows (passwords, reference rows) that the live
    database lacks (db/catalog/replay_checks.py); each becomes a step after what it needs.
    """
    checksum = snapshot_checksum(actual)
    expected = {kind: expected.get(kind, {}) for kind in KINDS}  # a partial snapshot: other kinds empty
    actual = {kind: actual.get(kind, {}) for kind in KINDS}
    ctx = PlanContext(expected, actual, migrating_role, sizes)
    renamed, rename_steps = infer_renames(expected, actual, ctx)
    ctx.actual = renamed
    missing, unexpected, changed = _compare(expected, renamed)
    alters, rebuild, invalid, cause = _alters(changed, ctx)
    _rebuild_dependents(rebuild, invalid, unexpected, cause, ctx)
    drops, withheld = _drops(unexpected | rebuild, cause, allow_destroy, ctx)
    builds = _builds(missing, rebuild - withheld, alters, unexpected | rebuild, cause, ctx)
    builds += _replays(replays, ctx)
    ordered = order_steps([*rename_steps, *drops, *builds], expected, renamed)
    return Plan(
        steps=tuple(p.step for p in ordered),
        schema_checksum=schema_checksum,
        catalog_checksum=checksum,
        mode=mode,
        notes=tuple(dict.fromkeys(ctx.notes)),
    )


def _replays(needed: Sequence[NeededReplay], ctx: PlanContext) -> list[Planned]:
    items = []
    for n in needed:
        r = n.replay
        if r.kind == PASSWORD:
            ctx.cause = f"role:{r.name}"
            item = ctx.step(ctx.cause, "replay", r.shown, "ALTER ROLE", reason=n.reason)
            items.append(replace(item, step=replace(item.step, secret_sql=r.sql)))
        else:
            ctx.cause = f"table:{r.name}"
            columns = tuple(f"column:{r.name}.{c}" for c in r.columns)
            items.append(
                ctx.step(
                    ctx.cause, "replay", r.sql, "INSERT", relation=r.name, requires=columns, reason=n.reason
                )
            )
    return items


def _compare(expected: Snapshot, actual: Snapshot) -> tuple[set[str], set[str], set[str]]:
    missing, unexpected, changed = set(), set(), set()
    for kind in KINDS:
        exp, act = expected.get(kind, {}), actual.get(kind, {})
        for name in exp.keys() | act.keys():
            e, a = exp.get(name), act.get(name)
            if a is None:
                missing.add(f"{kind}:{name}")
            elif e is None:
                unexpected.add(f"{kind}:{name}")
            elif compared_attributes(e) != compared_attributes(a):
                changed.add(f"{kind}:{name}")
    return missing, unexpected, changed


def _entry(snap: Snapshot, key: str) -> dict[str, Any]:
    kind, name = key.split(":", 1)
    return snap[kind][name]


def _order(keys: set[str], reverse: bool = False) -> list[str]:
    def rank(key: str) -> tuple[int, str]:
        return GENERATION_ORDER.index(key.split(":", 1)[0]), key

    return sorted(keys, key=rank, reverse=reverse)


def _alters(
    changed: set[str], ctx: PlanContext
) -> tuple[dict[str, list[Planned]], set[str], set[str], dict[str, str]]:
    alters: dict[str, list[Planned]] = {}
    rebuild: set[str] = set()
    invalid: set[str] = set()
    cause = {key: key for key in changed}
    for key in _order(changed):
        kind, name = key.split(":", 1)
        ctx.cause = key
        e, a = _entry(ctx.expected, key), _entry(ctx.actual, key)
        steps = PLANNERS[kind].alter(name, e, a, ctx)
        if steps is None:
            rebuild.add(key)
        else:
            alters[key] = steps
            if PLANNERS[kind].invalidates(e, a):
                invalid.add(key)
    return alters, rebuild, invalid, cause


def _rebuild_dependents(
    rebuild: set[str], invalid: set[str], unexpected: set[str], cause: dict[str, str], ctx: PlanContext
) -> None:
    """Add to `rebuild` what depends (on the live side) on a rebuilt or invalidated object."""
    reverse: dict[str, list[str]] = {}
    for kind, entries in ctx.actual.items():
        for name, entry in entries.items():
            for dep in entry.get("depends_on", ()):
                reverse.setdefault(dep, []).append(f"{kind}:{name}")
    # A key or index that goes takes the foreign keys over it: those the file keeps are rebuilt.
    dropped_keys = {k for k in unexpected if k.split(":", 1)[0] in ("constraint", "index")}
    frontier = sorted(rebuild | invalid | dropped_keys)
    while frontier:
        key = frontier.pop()
        if key in dropped_keys and key not in rebuild:
            allowed = frozenset({"constraint"})
        else:
            allowed = REBUILT_AROUND_OBJECT if key in rebuild else REBUILT_AROUND_COLUMN
        for dependent in reverse.get(key, ()):
            kind, name = dependent.split(":", 1)
            if dependent in rebuild or dependent in unexpected or name not in ctx.expected.get(kind, {}):
                continue
            if kind in allowed:
                rebuild.add(dependent)
            elif kind == "column" and key.startswith("type:") and dependent not in invalid:
                invalid.add(dependent)  # converted to the re-created type: what reads it is rebuilt
            else:
                continue
            cause.setdefault(dependent, cause.get(key, key))
            frontier.append(dependent)


def _under(key: str, keys: set[str], snap: Snapshot) -> bool:
    """An ancestor of `key` (through parents) is in `keys`: it goes, or comes, with that ancestor.

    A schema is the ancestor only of its own grant and comment: DROP SCHEMA without CASCADE needs
    what it contains dropped first, each by its own step.
    """
    seen = set()
    attachment = key.split(":", 1)[0] in ("grant", "comment")
    while True:
        kind, name = key.split(":", 1)
        parent = snap.get(kind, {}).get(name, {}).get(PARENT)
        if not parent or parent in seen or (parent.startswith("schema:") and not attachment):
            return False
        if parent in keys:
            return True
        seen.add(parent)
        attachment = False
        key = parent


def _owned_by_gone(key: str, gone: set[str], snap: Snapshot) -> bool:
    """A sequence OWNED BY a column that goes (or whose table goes) is dropped with it by PostgreSQL."""
    kind, name = key.split(":", 1)
    owner = snap.get(kind, {}).get(name, {}).get("owned_by") if kind == "sequence" else None
    if not owner:
        return False
    return f"column:{owner}" in gone or f"table:{str(owner).rsplit('.', 1)[0]}" in gone


def _drops(
    gone: set[str], cause: dict[str, str], allow_destroy: bool, ctx: PlanContext
) -> tuple[list[Planned], set[str]]:
    items: list[Planned] = []
    withheld: set[str] = set()
    for key in _order(gone, reverse=True):
        if _under(key, gone, ctx.actual) or _owned_by_gone(key, gone, ctx.actual):
            continue  # dropped with its parent, or with the column that owns it
        kind, name = key.split(":", 1)
        ctx.cause = cause.get(key, key)
        steps = PLANNERS[kind].drop(name, _entry(ctx.actual, key), ctx)
        destroying = [p for p in steps if Hazard.DESTROYS_DATA in p.step.hazards]
        if destroying and not allow_destroy:
            withheld.add(key)
            for p in destroying:
                ctx.notes.append(
                    f"left out: {p.step.sql.strip()} ({kind} {name} may hold rows; "
                    "destroys_data is not allowed)"
                )
            steps = [p for p in steps if p not in destroying]
        items += steps
    return items, withheld


def _builds(
    missing: set[str],
    rebuild: set[str],
    alters: dict[str, list[Planned]],
    gone: set[str],
    cause: dict[str, str],
    ctx: PlanContext,
) -> list[Planned]:
    create = set(missing) | rebuild
    create |= {
        f"{kind}:{name}"
        for kind, entries in ctx.expected.items()
        for name in entries
        if f"{kind}:{name}" not in create and _under(f"{kind}:{name}", rebuild, ctx.expected)
    }
    ctx.created = create
    items: list[Planned] = []
    for key in _order(create | set(alters)):
        kind, name = key.split(":", 1)
        ctx.cause = cause.get(key, key)
        if key in create:
            if _under(key, gone - rebuild, ctx.actual) and key not in missing:
                continue
            items += PLANNERS[kind].create(name, _entry(ctx.expected, key), ctx)
        elif not _under(key, create | gone, ctx.expected):
            items += alters[key]
    return items
