"""Owners compared relative to the migrating role: that role's name becomes one placeholder.

The expected side is built by whoever runs drift (its scratch database's objects are theirs); the
live side was migrated by another role. Both stand for "whoever runs the schema file", so both are
written MIGRATOR in owners, grantors and grantees, and a plan renders MIGRATOR as the role it runs as.
"""

from __future__ import annotations

import re
from typing import Any

from db.catalog.coverage import aclitem_role

MIGRATOR = "@migrator"  # not a role name anyone uses: aclitem text would quote it
Snapshot = dict[str, dict[str, dict[str, Any]]]

_ACL_ROLE = re.compile(r'^("(?:[^"]|"")*"|[^=]*)=([^/]*)/(.*)$')


def normalise_owner(snap: Snapshot, role: str) -> None:
    """Write `role` as MIGRATOR wherever it owns, grants or is granted (in place)."""
    quoted = aclitem_role(role)

    def swap(name: str) -> str:
        return MIGRATOR if name in (role, quoted) else name

    def acl(items: list[str] | None) -> list[str] | None:
        if items is None:
            return None
        out = []
        for item in items:
            m = _ACL_ROLE.match(item)
            out.append(f"{swap(m.group(1))}={m.group(2)}/{swap(m.group(3))}" if m else item)
        return sorted(out)

    for entry in snap["schema"].values():
        entry["owner"] = swap(entry["owner"])
    for entry in snap["grant"].values():
        entry["owner"] = swap(entry["owner"])
        entry["privileges"] = acl(entry["privileges"])
    for entry in snap["column"].values():
        entry["acl"] = acl(entry["acl"]) or []
    renamed = {}
    for name, entry in snap["default_privilege"].items():
        entry["role"] = swap(entry["role"])
        entry["privileges"] = acl(entry["privileges"]) or []
        renamed[" ".join([entry["role"], *name.split(" ")[1:]])] = entry
    snap["default_privilege"] = renamed
