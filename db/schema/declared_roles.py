"""The roles the schema file creates, with the attributes and memberships it gives them.

Roles belong to the cluster, so a scratch database on the same server shows the live roles, not
what the file would make: the expected side of roles is read from the file itself. Statements are
found at the top level and inside DO blocks (where `CREATE ROLE` lives, guarded by IF NOT EXISTS),
and each is parsed by pglast (PostgreSQL's own parser).
"""

from __future__ import annotations

import re
from typing import Any

import pglast
from pglast import ast, enums

from db.catalog.coverage import ROLE_ATTRIBUTES, ROLE_SETTINGS, membership_name
from db.plan.quoting import quote_ident

# Settings that hold a list of names; PostgreSQL quotes each element when it stores them.
LIST_SETTINGS = frozenset(
    {"search_path", "temp_tablespaces", "local_preload_libraries", "session_preload_libraries"}
)
# Candidate statements; pglast decides what each one is.
_CANDIDATE = re.compile(r"\b(?:CREATE\s+(?:ROLE|USER)|ALTER\s+(?:ROLE|USER)|GRANT)\b[^;]*;", re.IGNORECASE)
_OPTION_NAMES = {
    "superuser": "superuser", "inherit": "inherit", "createrole": "createrole", "createdb": "createdb",
    "canlogin": "login", "isreplication": "replication", "bypassrls": "bypassrls",
    "connectionlimit": "connection_limit",
}  # fmt: skip


def _defaults(login: bool) -> dict[str, Any]:
    return {
        "superuser": False, "inherit": True, "createrole": False, "createdb": False, "login": login,
        "replication": False, "bypassrls": False, "connection_limit": -1, ROLE_SETTINGS: [],
    }  # fmt: skip


def role_statements(text: str) -> list[tuple[int, Any]]:
    """(line, parsed statement) of every role statement in the file, top level or inside DO blocks."""
    found = []
    for match in _CANDIDATE.finditer(text):
        try:
            parsed = pglast.parse_sql(match.group())
        except pglast.parser.ParseError:
            continue  # a GRANT on objects, or text inside a string: not a role statement
        line = text.count("\n", 0, match.start()) + 1
        found += [(line, raw.stmt) for raw in parsed]
    return found


def _value(arg: Any) -> Any:
    for field in ("boolval", "ival"):
        if hasattr(arg, field):
            return getattr(arg, field)
    return arg


def declared_roles(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """({role: attributes}, {membership name: entry}) as the file leaves them, in file order."""
    roles: dict[str, dict[str, Any]] = {}
    memberships: dict[str, dict[str, Any]] = {}
    for _, stmt in role_statements(text):
        if isinstance(stmt, ast.CreateRoleStmt) and stmt.role:
            entry = roles.setdefault(stmt.role, _defaults(stmt.stmt_type == 1))
            _apply(entry, stmt.options, stmt.role, memberships)
        elif isinstance(stmt, ast.AlterRoleStmt) and stmt.role and stmt.role.rolename in roles:
            name = str(stmt.role.rolename)
            _apply(roles[name], stmt.options, name, memberships)
        elif isinstance(stmt, ast.AlterRoleSetStmt) and stmt.role and stmt.role.rolename in roles:
            if stmt.database is None:  # IN DATABASE: that database's, not the role's everywhere
                _set(roles[str(stmt.role.rolename)], stmt.setstmt)
        elif isinstance(stmt, ast.GrantRoleStmt) and stmt.is_grant:
            admin = any(o.defname == "admin" and _value(o.arg) for o in stmt.opt or ())
            for granted in stmt.granted_roles or ():
                for grantee in stmt.grantee_roles or ():
                    _member(memberships, granted.priv_name, grantee.rolename, admin)
    return roles, {n: m for n, m in memberships.items() if m["member"] in roles}


def _apply(entry: dict[str, Any], options: Any, role: str, memberships: dict[str, dict[str, Any]]) -> None:
    for option in options or ():
        if option.defname in _OPTION_NAMES:
            entry[_OPTION_NAMES[option.defname]] = _value(option.arg)
        elif option.defname == "addroleto":  # CREATE ROLE ... IN ROLE x
            for spec in option.arg:
                _member(memberships, spec.rolename, role, False)
    assert set(entry) == {*ROLE_ATTRIBUTES, ROLE_SETTINGS}


def _set(entry: dict[str, Any], setstmt: Any) -> None:
    """ALTER ROLE ... SET/RESET applied to the entry's settings, spelled as the server stores them."""
    kind = setstmt.kind
    if kind == enums.VariableSetKind.VAR_RESET_ALL:
        entry[ROLE_SETTINGS] = []
        return
    name = str(setstmt.name)
    kept = [s for s in entry[ROLE_SETTINGS] if s.split("=", 1)[0] != name]
    if kind == enums.VariableSetKind.VAR_SET_VALUE:
        words = [_setting_word(name, arg) for arg in setstmt.args or ()]
        kept.append(f"{name}={', '.join(words)}")
    entry[ROLE_SETTINGS] = sorted(kept)


def _setting_word(name: str, arg: Any) -> str:
    value = arg.val
    text = str(value.sval if hasattr(value, "sval") else getattr(value, "ival", getattr(value, "fval", "")))
    # List settings keep each element quoted as an identifier where it needs it (flatten_set_variable_args).
    return (
        quote_ident(text)
        if name in LIST_SETTINGS and isinstance(arg, ast.A_Const) and hasattr(value, "sval")
        else text
    )


def _member(memberships: dict[str, dict[str, Any]], role: str, member: str, admin: bool) -> None:
    memberships[membership_name(role, member)] = {
        "parent": f"role:{member}",
        "role": role,
        "member": member,
        "admin_option": admin,
    }
