"""A private environments file for tests whose environments all point at one test database."""

from __future__ import annotations

from pathlib import Path

import pytest

MIGRATE_ENVIRONMENTS = """
[defaults]
database_url_env = "SCHEMAFLOW_TEST_URL"
allow_insecure = true
timescaledb = "preferred"
lock_timeout = "1s"
lock_retries = 1
connect_timeout = 10
backup_dir = "{root}/backups/{{name}}"
report_log = "{root}/logs/migrate-{{name}}.log"

[environments.dev]
require_backup = false

[environments.production]
require_backup = true
require_confirmation = true
timescaledb = "required"
keep_backups = 2
"""


def use_test_environments(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write the file under `tmp_path`, point SCHEMAFLOW_ENVIRONMENTS at it, and return `tmp_path`."""
    path = tmp_path / "environments.toml"
    path.write_text(MIGRATE_ENVIRONMENTS.format(root=tmp_path))
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    monkeypatch.setenv("SCHEMAFLOW_TEST_URL", db_url)
    monkeypatch.delenv("SKIP_CONFIRMATION", raising=False)
    return tmp_path
