"""Row-level security, policies, owners and grants, default privileges, roles and memberships."""

from __future__ import annotations

import re
from typing import Any

from db.catalog.coverage import OBJTYPE_WORDS, ROLE_ATTRIBUTES, aclitem_role, default_acl
from db.catalog.owners import MIGRATOR
from db.plan.context import DROP, KindPlanner, PlanContext, Planned, nothing
from db.plan.quoting import function_ref, qualified, quote_ident, split_child

# grantee=privileges/grantor, the grantee quoted when it needs to be (and empty for PUBLIC).
_ACL_ITEM = re.compile(r'^("(?:[^"]|"")*"|[^=]*)=([^/]*)')
# aclitem letters (PostgreSQL docs, "Privileges") and the keyword each stands for.
_PRIVILEGES = {
    "r": "SELECT",
    "a": "INSERT",
    "w": "UPDATE",
    "d": "DELETE",
    "D": "TRUNCATE",
    "x": "REFERENCES",
    "t": "TRIGGER",
    "X": "EXECUTE",
    "U": "USAGE",
    "C": "CREATE",
    "c": "CONNECT",
    "T": "TEMPORARY",
    "m": "MAINTAIN",
}
_OWNER_KEYWORD = {
    "table": "TABLE",
    "view": "VIEW",
    "matview": "MATERIALIZED VIEW",
    "cagg": "MATERIALIZED VIEW",
    "sequence": "SEQUENCE",
    "function": "ROUTINE",
    "schema": "SCHEMA",
}
_GRANT_KEYWORD = {"view": "TABLE", "matview": "TABLE", "cagg": "TABLE"}


def acl_map(items: list[str] | None) -> dict[str, set[str]]:
    """{grantee: {privilege keyword}}; PUBLIC for the empty grantee."""
    result: dict[str, set[str]] = {}
    for item in items or []:
        match = _ACL_ITEM.match(item)
        if not match:
            continue
        grantee, privs = match.group(1), match.group(2).replace("*", "")
        if grantee.startswith('"'):
            grantee = grantee[1:-1].replace('""', '"')
        result.setdefault(grantee or "PUBLIC", set()).update(_PRIVILEGES.get(ch, ch) for ch in privs)
    return result


def _acl_steps(
    key: str,
    e_acl: list[str] | None,
    a_acl: list[str] | None,
    on: str,
    ctx: PlanContext,
    *,
    relation: str | None = None,
    prefix: str = "",
    columns: str = "",
) -> list[Planned]:
    exp, act = acl_map(e_acl), acl_map(a_acl)
    steps = []
    for grantee in sorted(exp.keys() | act.keys()):
        who = ctx.role(grantee)
        extra = sorted(act.get(grantee, set()) - exp.get(grantee, set()))
        lacking = sorted(exp.get(grantee, set()) - act.get(grantee, set()))
        if extra:
            privs = ", ".join(f"{p}{columns}" for p in extra)
            steps.append(
                ctx.step(
                    key, "alter", f"{prefix}REVOKE {privs} ON {on} FROM {who}", "GRANT", relation=relation
                )
            )
        if lacking:
            privs = ", ".join(f"{p}{columns}" for p in lacking)
            steps.append(
                ctx.step(key, "alter", f"{prefix}GRANT {privs} ON {on} TO {who}", "GRANT", relation=relation)
            )
    return steps


def _swap_role(item: str, old: str, new: str) -> str:
    grantee, rest = item.split("=", 1)
    privs, grantor = rest.split("/", 1)
    old_q, new_q = aclitem_role(old), aclitem_role(new)
    return f"{new_q if grantee == old_q else grantee}={privs}/{new_q if grantor == old_q else grantor}"


def _target(name: str) -> tuple[str, str, str]:
    kind, obj = name.split(" ", 1)
    ref = (
        quote_ident(obj) if kind == "schema" else function_ref(obj) if kind == "function" else qualified(obj)
    )
    return kind, obj, ref


def _alter_grant(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    kind, obj, ref = _target(name)
    key = f"grant:{name}"
    relation = obj if kind in ("table", "view", "matview", "cagg", "sequence") else None
    steps = []
    if e["owner"] != a["owner"]:
        keyword = _OWNER_KEYWORD[kind]
        sql = f"ALTER {keyword} {ref} OWNER TO {ctx.role(e['owner'])}"
        statement = "ALTER TABLE OWNER" if relation else "ALTER SCHEMA OWNER"
        steps.append(ctx.step(key, "alter", sql, statement, relation=relation))
    keyword = _GRANT_KEYWORD.get(kind, _OWNER_KEYWORD[kind])
    e_acl = e["privileges"] if e["privileges"] is not None else default_acl(kind, e["owner"])
    a_acl = a["privileges"] if a["privileges"] is not None else default_acl(kind, a["owner"])
    if e["owner"] != a["owner"]:  # ALTER ... OWNER TO hands the old owner's privileges to the new one
        a_acl = [_swap_role(item, a["owner"], e["owner"]) for item in a_acl]
    steps += _acl_steps(key, e_acl, a_acl, f"{keyword} {ref}", ctx)
    return steps


def _create_grant(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    """A new object belongs to whoever runs the plan (the migrating role) with default privileges."""
    kind = name.split(" ", 1)[0]
    return _alter_grant(name, e, {"owner": MIGRATOR, "privileges": default_acl(kind, MIGRATOR)}, ctx)


def column_grants(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    table, column = name.rsplit(".", 1)
    return _acl_steps(
        f"column:{name}",
        e.get("acl"),
        a.get("acl"),
        f"TABLE {qualified(table)}",
        ctx,
        columns=f" ({quote_ident(column)})",
    )


def _default_baseline(entry: dict) -> list[str]:
    """pg_default_acl without a row: database-wide, the owner's defaults; in one schema, nothing extra."""
    if entry.get("schema"):
        return []
    kind = {"S": "sequence", "f": "function", "n": "schema"}.get(entry["objtype"], "table")
    acl = default_acl(kind, entry["role"])
    if entry["objtype"] == "T":
        acl = sorted({*acl, f"=U/{acl[0].split('/', 1)[1]}"})
    return acl


def _default_privileges(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    ref = e or a
    schema = f" IN SCHEMA {quote_ident(ref['schema'])}" if ref.get("schema") else ""
    prefix = f"ALTER DEFAULT PRIVILEGES FOR ROLE {ctx.role(ref['role'])}{schema} "
    words = OBJTYPE_WORDS[ref["objtype"]].upper()
    e_acl = e["privileges"] if e else _default_baseline(ref)
    a_acl = a["privileges"] if a else _default_baseline(ref)
    return _acl_steps(f"default_privilege:{name}", e_acl, a_acl, words, ctx, prefix=prefix)


def _alter_rls(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    steps, rel = [], qualified(name)
    if e.get("enabled") != a.get("enabled"):
        sql = f"ALTER TABLE {rel} {'ENABLE' if e.get('enabled') else 'DISABLE'} ROW LEVEL SECURITY"
        steps.append(ctx.step(f"rls:{name}", "alter", sql, "ALTER TABLE ROW LEVEL SECURITY", relation=name))
    if e.get("forced") != a.get("forced"):
        sql = f"ALTER TABLE {rel} {'FORCE' if e.get('forced') else 'NO FORCE'} ROW LEVEL SECURITY"
        steps.append(ctx.step(f"rls:{name}", "alter", sql, "ALTER TABLE ROW LEVEL SECURITY", relation=name))
    return steps


def _create_rls(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    return _alter_rls(name, e, {"enabled": False, "forced": False}, ctx)


def _roles(roles: list[str], ctx: PlanContext) -> str:
    return ", ".join(ctx.role(r) for r in roles) or "PUBLIC"


def _create_policy(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    table = name.rsplit(".", 1)[0]
    rel, pol = split_child(name)
    sql = f"CREATE POLICY {pol} ON {rel} AS {e['permissive']} FOR {e['cmd']} TO {_roles(e['roles'], ctx)}"
    if e.get("using"):
        sql += f"\n  USING ({e['using']})"
    if e.get("with_check"):
        sql += f"\n  WITH CHECK ({e['with_check']})"
    return [ctx.step(f"policy:{name}", "create", sql, "CREATE POLICY", relation=table)]


def _drop_policy(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    table = name.rsplit(".", 1)[0]
    rel, pol = split_child(name)
    return [
        ctx.step(
            f"policy:{name}", "drop", f"DROP POLICY {pol} ON {rel}", "DROP POLICY", relation=table, phase=DROP
        )
    ]


def _alter_policy(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned] | None:
    if e["permissive"] != a["permissive"] or e["cmd"] != a["cmd"]:
        return None
    if (a.get("using") and not e.get("using")) or (a.get("with_check") and not e.get("with_check")):
        return None  # ALTER POLICY cannot remove a clause
    table = name.rsplit(".", 1)[0]
    rel, pol = split_child(name)
    sql = f"ALTER POLICY {pol} ON {rel} TO {_roles(e['roles'], ctx)}"
    if e.get("using"):
        sql += f"\n  USING ({e['using']})"
    if e.get("with_check"):
        sql += f"\n  WITH CHECK ({e['with_check']})"
    return [ctx.step(f"policy:{name}", "alter", sql, "ALTER POLICY", relation=table)]


def _role_options(e: dict, a: dict | None) -> str:
    words = []
    for attr in ROLE_ATTRIBUTES:
        if a is not None and e.get(attr) == a.get(attr):
            continue
        if attr == "connection_limit":
            words.append(f"CONNECTION LIMIT {e[attr]}")
        else:
            words.append(("" if e.get(attr) else "NO") + attr.upper())
    return " ".join(words)


def _create_role(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"CREATE ROLE {quote_ident(name)} WITH {_role_options(e, None)}"
    return [ctx.step(f"role:{name}", "create", sql, "CREATE ROLE")]


def _alter_role(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    options = _role_options(e, a)
    if not options:
        return []
    return [ctx.step(f"role:{name}", "alter", f"ALTER ROLE {quote_ident(name)} WITH {options}", "ALTER ROLE")]


def _unplanned_role_drop(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    ctx.notes.append(f"role {name}: roles belong to the cluster; not dropped by a database plan")
    return []


def _create_membership(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    admin = " WITH ADMIN OPTION" if e.get("admin_option") else ""
    sql = f"GRANT {quote_ident(e['role'])} TO {quote_ident(e['member'])}{admin}"
    return [ctx.step(f"role_membership:{name}", "create", sql, "GRANT ROLE", requires=(f"role:{e['role']}",))]


def _drop_membership(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    sql = f"REVOKE {quote_ident(a['role'])} FROM {quote_ident(a['member'])}"
    return [ctx.step(f"role_membership:{name}", "drop", sql, "GRANT ROLE", phase=DROP)]


def _alter_membership(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    if e.get("admin_option"):
        return _create_membership(name, e, ctx)
    sql = f"REVOKE ADMIN OPTION FOR {quote_ident(e['role'])} FROM {quote_ident(e['member'])}"
    return [ctx.step(f"role_membership:{name}", "alter", sql, "GRANT ROLE")]


def _dp_create(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    return _default_privileges(name, e, {}, ctx)


def _dp_drop(name: str, a: dict, ctx: PlanContext) -> list[Planned]:
    return _default_privileges(name, {}, a, ctx)


def _no_drop(name: str, a: Any, ctx: PlanContext) -> list[Planned]:
    return []  # goes with the object it belongs to


PLANNERS = {
    "rls": KindPlanner(_create_rls, nothing, _alter_rls),
    "policy": KindPlanner(_create_policy, _drop_policy, _alter_policy),
    "grant": KindPlanner(_create_grant, _no_drop, _alter_grant),
    "default_privilege": KindPlanner(_dp_create, _dp_drop, _default_privileges),
    "role": KindPlanner(_create_role, _unplanned_role_drop, _alter_role),
    "role_membership": KindPlanner(_create_membership, _drop_membership, _alter_membership),
}
