"""How much a catalog difference matters: 'high' when correctness or tenant isolation is at risk.

Tenant isolation rests on more than the policies themselves: RLS state, the functions the policies
call (a changed `current_tenant_id()` body), security_barrier views, SECURITY DEFINER functions,
roles' BYPASSRLS and memberships, rules that rewrite writes, and the grants of the application role.
"""

from __future__ import annotations

import re
from typing import Any

# Kinds whose every difference is high: each one can open or close what a tenant sees.
_ALWAYS_HIGH = {
    "rls",
    "policy",
    "grant",
    "role",
    "role_membership",
    "default_privilege",
    "rule",
    "publication",
}
_HIGH_KINDS = {"table", "column", "constraint", "hypertable"}
_SECURITY_DEFINER = re.compile(r"\bSECURITY DEFINER\b", re.IGNORECASE)


def severity_of(
    kind: str,
    name: str,
    status: str,
    expected: dict | None,
    actual: dict | None,
    expected_snap: dict[str, Any] | None = None,
    actual_snap: dict[str, Any] | None = None,
) -> str:
    """'high', 'medium' or 'low' for one difference (see the module docstring for what is high)."""
    if kind in _ALWAYS_HIGH or (kind == "constraint" and status != "unexpected"):
        return "high"
    if kind == "function" and (
        _is_security_definer(expected) or _is_security_definer(actual)
        or _called_by_policy(f"function:{name}", expected_snap, actual_snap)
    ):  # fmt: skip
        return "high"
    if kind == "view" and _barrier(expected) != _barrier(actual) and status == "changed":
        return "high"
    if kind == "comment":
        return "low"
    if status == "unexpected":
        return "low" if kind not in ("trigger", "job", "function", "view", "schema") else "medium"
    if kind in _HIGH_KINDS:
        if kind == "column" and status == "changed" and expected and actual:
            shape = ("type", "not_null", "identity", "generated")
            return "high" if any(expected.get(k) != actual.get(k) for k in shape) else "medium"
        return "high"
    return "medium"


def _is_security_definer(entry: dict | None) -> bool:
    return bool(entry and entry.get("definition") and _SECURITY_DEFINER.search(entry["definition"]))


def _barrier(entry: dict | None) -> bool:
    return any("security_barrier=true" in o for o in (entry or {}).get("options") or [])


def _called_by_policy(key: str, *snaps: dict[str, Any] | None) -> bool:
    """A policy (directly, or through a view it reads) depends on the function `key`."""
    for snap in snaps:
        for policy in (snap or {}).get("policy", {}).values():
            if key in policy.get("depends_on", ()):
                return True
    return False
