"""The pending one-offs as `schemaflow plan` lists them: before the master's steps, text or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from db.connection.target import Target
from db.versions.files import MigrationFile, discover_migrations
from db.versions.run import pending_migrations


@dataclass(frozen=True)
class PendingListing:
    files: list[MigrationFile]

    def text(self) -> str:
        if not self.files:
            return "one-off migrations: none pending"
        lines = [f"one-off migrations: {len(self.files)} pending, run before the master's steps "
                 "(the steps below are planned before them; migrate plans again after them):"]  # fmt: skip
        lines += [f"  {n}. {f.name} ({f.directives()})" for n, f in enumerate(self.files, 1)]
        return "\n".join(lines)

    def with_json(self, plan_json: str) -> str:
        data = json.loads(plan_json)
        data["pending_one_offs"] = [
            {"version": f.version, "file": f.name, "checksum": f.checksum, "directives": f.directives()}
            for f in self.files
        ]
        return json.dumps(data, indent=2)


def pending_listing(target: Target, migrations_dir: Path | str | None = None) -> PendingListing:
    """Validate the folder against the target's history (edited or out-of-order files are refused)."""
    env = target.environment
    folder = migrations_dir or (env.migrations_dir if env else None)
    files = discover_migrations(folder)
    if not files:
        return PendingListing([])
    allow = env.allow_out_of_order if env else False
    connect_timeout = env.connect_timeout if env else 10
    status = pending_migrations(target.url, files, allow_out_of_order=allow, connect_timeout=connect_timeout)
    return PendingListing(status.pending)
