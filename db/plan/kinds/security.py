"""Row-level security, policies, owners and grants, default privileges, roles and memberships."""

from __future__ import annotations

import re
from typing import Any

from db.catalog.coverage import OBJTYPE_WORDS, ROLE_ATTRIBUTES, ROLE_SETTINGS, aclitem_role, default_acl
from db.catalog.owners import MIGRATOR
from db.plan.chunk_privileges import chunk_grant, revoke_on_chunks_sql
from db.plan.context import DROP, KindPlanner, PlanContext, Planned, nothing
from db.plan.quoting import function_ref, literal, qualified, quote_ident, split_child
from db.schema.declared_roles import LIST_SETTINGS

# grantee=privileges/grantor, the grantee quoted when it needs to be (and empty for PUBLIC).
_ACL_ITEM = re.compile(r'^("(?:[^"]|"")*"|[^=]*)=([^/]*)(/.*)?$')
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
_LETTERS = {keyword: letter for letter, keyword in _PRIVILEGES.items()}
_OWNER_KEYWORD = {
    "table": "TABLE",
    "view": "VIEW",
    "matview": "MATERIALIZED VIEW",
    "cagg": "MATERIALIZED VIEW",
    "sequence": "SEQUENCE",
    "function": "ROUTINE",
    "schema": "SCHEMA",
    "type": "TYPE",
}
_GRANT_KEYWORD = {"view": "TABLE", "matview": "TABLE", "cagg": "TABLE"}


def acl_map(items: list[str] | None) -> dict[str, dict[str, bool]]:
    """{grantee: {privilege keyword: grantable}}; PUBLIC for the empty grantee.

    The grant option ('*' after a letter) is kept: a privilege held WITH GRANT OPTION lets its
    holder pass it on, so it is a difference of its own, not the same privilege.
    """
    result: dict[str, dict[str, bool]] = {}
    for item in items or []:
        parts = _acl_parts(item)
        if parts is None:
            continue
        grantee, letters, _ = parts
        held = result.setdefault(grantee, {})
        for keyword, grantable in _letters(letters):
            held[keyword] = held.get(keyword, False) or grantable
    return result


def _acl_parts(item: str) -> tuple[str, str, str] | None:
    """(grantee unquoted, PUBLIC for the empty one; privilege letters; '/grantor' or '') of an aclitem."""
    match = _ACL_ITEM.match(item)
    if not match:
        return None
    grantee = match.group(1)
    if grantee.startswith('"'):
        grantee = grantee[1:-1].replace('""', '"')
    return grantee or "PUBLIC", match.group(2), match.group(3) or ""


def _letters(letters: str) -> list[tuple[str, bool]]:
    """(privilege keyword, held WITH GRANT OPTION) per letter of an aclitem: 'r*w' -> SELECT*, UPDATE."""
    return [
        (_PRIVILEGES.get(ch, ch), letters[i + 1 : i + 2] == "*") for i, ch in enumerate(letters) if ch != "*"
    ]


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
    requires: tuple[str, ...] = (),
) -> list[Planned]:
    exp, act = acl_map(e_acl), acl_map(a_acl)
    steps = []

    def add(sql: str) -> None:
        steps.append(ctx.step(key, "alter", f"{prefix}{sql}", "GRANT", relation=relation, requires=requires))

    def privileges(names: list[str]) -> str:
        return ", ".join(f"{p}{columns}" for p in names)

    for grantee in sorted(exp.keys() | act.keys()):
        who = ctx.role(grantee)
        want, have = exp.get(grantee, {}), act.get(grantee, {})
        extra = sorted(p for p in have if p not in want)
        option_extra = sorted(p for p in have if p in want and have[p] and not want[p])
        lacking = sorted(p for p in want if p not in have and not want[p])
        option_lacking = sorted(p for p in want if want[p] and not have.get(p, False))
        if extra:
            add(f"REVOKE {privileges(extra)} ON {on} FROM {who}")
        if option_extra:
            add(f"REVOKE GRANT OPTION FOR {privileges(option_extra)} ON {on} FROM {who}")
        if lacking:
            add(f"GRANT {privileges(lacking)} ON {on} TO {who}")
        if option_lacking:
            add(f"GRANT {privileges(option_lacking)} ON {on} TO {who} WITH GRANT OPTION")
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
    domain = (
        kind == "type"
        and (ctx.expected["type"].get(obj) or ctx.actual["type"].get(obj) or {}).get("type") == "domain"
    )
    if e["owner"] != a["owner"]:
        keyword = "DOMAIN" if domain else _OWNER_KEYWORD[kind]
        sql = f"ALTER {keyword} {ref} OWNER TO {ctx.role(e['owner'])}"
        statement = "ALTER TABLE OWNER" if relation else "ALTER SCHEMA OWNER"
        steps.append(ctx.step(key, "alter", sql, statement, relation=relation))
    keyword = "DOMAIN" if domain else _GRANT_KEYWORD.get(kind, _OWNER_KEYWORD[kind])
    e_acl = e["privileges"] if e["privileges"] is not None else default_acl(kind, e["owner"])
    a_acl = a["privileges"] if a["privileges"] is not None else default_acl(kind, a["owner"])
    if e["owner"] != a["owner"]:  # ALTER ... OWNER TO hands the old owner's privileges to the new one
        a_acl = [_swap_role(item, a["owner"], e["owner"]) for item in a_acl]
    steps += _acl_steps(key, e_acl, a_acl, f"{keyword} {ref}", ctx)
    if kind == "table":
        steps += [replace_key(p, key) for p in regrant_columns(obj, ctx)]
    return steps


def replace_key(item: Planned, key: str) -> Planned:
    """`item` planned as part of `key` (its steps keep the order of that object's own steps)."""
    return Planned(item.step, key, item.phase, tuple(r for r in item.requires if r != key))


def _create_grant(name: str, e: dict, ctx: PlanContext) -> list[Planned]:
    """A new object belongs to whoever runs the plan (the migrating role), with the privileges that
    role's default privileges in the live database give it: what they hand out beyond the file's is
    revoked in the same plan."""
    kind, obj = name.split(" ", 1)
    return _alter_grant(name, e, {"owner": MIGRATOR, "privileges": _acl_at_creation(kind, obj, ctx)}, ctx)


_DEFAULT_OBJTYPE = {
    "table": "r", "view": "r", "matview": "r", "cagg": "r", "sequence": "S", "function": "f", "type": "T",
    "schema": "n",
}  # fmt: skip


def _acl_at_creation(kind: str, obj: str, ctx: PlanContext) -> list[str]:
    """PostgreSQL's rule: a database-wide ALTER DEFAULT PRIVILEGES entry replaces the built-in
    default; an entry for the object's schema adds to it."""
    acl = default_acl(kind, MIGRATOR)
    objtype = _DEFAULT_OBJTYPE.get(kind)
    schema = obj.split(".", 1)[0] if kind != "schema" else None
    entries = [
        d
        for d in ctx.actual.get("default_privilege", {}).values()
        if d["role"] == MIGRATOR and d["objtype"] == objtype
    ]
    for entry in entries:
        if not entry.get("schema"):
            acl = list(entry["privileges"])
    for entry in entries:
        if schema and entry.get("schema") == schema:
            acl = sorted({*acl, *entry["privileges"]})
    return acl


def column_grants(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    """The column's privileges, after the table-level ones (a table-level REVOKE also takes back the
    same privileges on every column), and on a hypertable followed by closing its chunks again."""
    table, column = name.rsplit(".", 1)
    key = f"column:{name}"
    have = _without(a.get("acl"), _table_revokes(table, ctx))
    steps = _acl_steps(
        key,
        e.get("acl"),
        have,
        f"TABLE {qualified(table)}",
        ctx,
        relation=table,
        columns=f" ({quote_ident(column)})",
        requires=(f"grant:table {table}",),
    )
    granted = _granted(e.get("acl"), have)
    if granted and ctx.is_hypertable(table) and not ctx.is_new(table):
        items = [chunk_grant(who, p, column) for who, privileges in granted.items() for p in privileges]
        steps.append(
            ctx.step(
                key,
                "alter",
                revoke_on_chunks_sql(table, items, ctx.role),
                "GRANT",
                relation=table,
                reason="TimescaleDB applied the column GRANT to every chunk; chunks have no row-level "
                "security, so the chunks are closed again",
            )
        )
    return steps


def _granted(e_acl: list[str] | None, a_acl: list[str] | None) -> dict[str, list[str]]:
    """{grantee: privileges} that `e_acl` holds and `a_acl` lacks (what a plan GRANTs)."""
    exp, act = acl_map(e_acl), acl_map(a_acl)
    out = {g: sorted(p for p in want if p not in act.get(g, {})) for g, want in exp.items()}
    return {g: p for g, p in out.items() if p}


def _table_revokes(table: str, ctx: PlanContext) -> dict[str, set[str]]:
    """{grantee: privileges} the plan REVOKEs on `table` itself (they vanish from its columns too)."""
    e = ctx.expected.get("grant", {}).get(f"table {table}")
    a = ctx.actual.get("grant", {}).get(f"table {table}")
    if not e or not a:
        return {}
    exp, act = acl_map(e["privileges"]), acl_map(a["privileges"])
    return {g: {p for p in have if p not in exp.get(g, {})} for g, have in act.items()}


def _without(acl: list[str] | None, revoked: dict[str, set[str]]) -> list[str]:
    """`acl` with the `revoked` privileges taken out (aclitem text, grant options kept)."""
    if not revoked:
        return list(acl or [])
    out = []
    for item in acl or []:
        parts = _acl_parts(item)
        if parts is None:
            out.append(item)
            continue
        name, letters, grantor = parts
        gone = revoked.get(name, set())
        kept = "".join(_LETTERS.get(p, p) + "*" * option for p, option in _letters(letters) if p not in gone)
        if kept:
            out.append(f"{'' if name == 'PUBLIC' else aclitem_role(name)}={kept}{grantor}")
    return out


def regrant_columns(table: str, ctx: PlanContext) -> list[Planned]:
    """Column privileges the file keeps that a table-level REVOKE of this plan takes away with it.

    Columns whose privileges differ anyway are planned by column_grants; the others are granted
    here again, after the REVOKE.
    """
    revoked = _table_revokes(table, ctx)
    if not any(revoked.values()):
        return []
    steps = []
    for name, e in ctx.children(ctx.expected, "column", f"table:{table}"):
        a = ctx.actual.get("column", {}).get(name)
        if a is None or sorted(e.get("acl") or []) != sorted(a.get("acl") or []):
            continue
        steps += column_grants(name, e, a, ctx)
    return steps


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
    return [ctx.step(f"role:{name}", "create", sql, "CREATE ROLE"), *_role_settings(name, e, {}, ctx)]


def _alter_role(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    options = _role_options(e, a)
    steps = _role_settings(name, e, a, ctx)
    if not options:
        return steps
    sql = f"ALTER ROLE {quote_ident(name)} WITH {options}"
    return [ctx.step(f"role:{name}", "alter", sql, "ALTER ROLE"), *steps]


def _role_settings(name: str, e: dict, a: dict, ctx: PlanContext) -> list[Planned]:
    """ALTER ROLE ... SET / RESET so the role's sessions start with what the file says."""
    want = dict(s.split("=", 1) for s in e.get(ROLE_SETTINGS) or [])
    have = dict(s.split("=", 1) for s in a.get(ROLE_SETTINGS) or [])
    steps = []
    for setting in sorted(want.keys() | have.keys()):
        if want.get(setting) == have.get(setting):
            continue
        if setting in want:
            value = want[setting] if setting in LIST_SETTINGS else literal(want[setting])
            sql = f"ALTER ROLE {quote_ident(name)} SET {quote_ident(setting)} = {value}"
        else:
            sql = f"ALTER ROLE {quote_ident(name)} RESET {quote_ident(setting)}"
        steps.append(ctx.step(f"role:{name}", "alter", sql, "ALTER ROLE"))
    return steps


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
