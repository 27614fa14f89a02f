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
from pglast import ast

from db.catalog.coverage import ROLE_ATTRIBUTES, membership_name

# Candidate statements; pglast decides what each one is.
_CANDIDATE = re.compile(r"\b(?:CREATE\s+(?:ROLE|USER)|ALTER\s+ROLE|GRANT)\b[^;]*;", re.IGNORECASE)
_OPTION_NAMES = {
    "superuser": "superuser", "inherit": "inherit", "createrole": "createrole", "createdb": "createdb",
    "canlogin": "login", "isreplication": "replication", "bypassrls": "bypassrls",
    "connectionlimit": "connection_limit",
}  # fmt: skip


def _defaults(login: bool) -> dict[str, Any]:
    return {
        "superuser": False, "inherit": True, "createrole": False, "createdb": False, "login": login,
        "replication": False, "bypassrls": False, "connection_limit": -1,
    }  # fmt: skip


def _statements(text: str) -> list[Any]:
    found = []
    for match in _CANDIDATE.finditer(text):
        try:
            found += [raw.stmt for raw in pglast.parse_sql(match.group())]
        except pglast.parser.ParseError:
            continue  # a GRANT on objects, or text inside a string: not a role statement
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
    for stmt in _statements(text):
        if isinstance(stmt, ast.CreateRoleStmt) and stmt.role:
            entry = roles.setdefault(stmt.role, _defaults(stmt.stmt_type == 1))
            _apply(entry, stmt.options, stmt.role, memberships)
        elif isinstance(stmt, ast.AlterRoleStmt) and stmt.role and stmt.role.rolename in roles:
            name = str(stmt.role.rolename)
            _apply(roles[name], stmt.options, name, memberships)
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
    assert set(entry) == set(ROLE_ATTRIBUTES)


def _member(memberships: dict[str, dict[str, Any]], role: str, member: str, admin: bool) -> None:
    memberships[membership_name(role, member)] = {
        "parent": f"role:{member}",
        "role": role,
        "member": member,
        "admin_option": admin,
    }
