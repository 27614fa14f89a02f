"""Private environments files for tests whose environments all point at one test database.

Every test file shares DEFAULTS (the test URL variable, short lock limits, backups and logs under
the test's own folder) and adds the environments it needs with `write_test_environments`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DEFAULTS = """
[defaults]
database_url_env = "SCHEMAFLOW_TEST_URL"
allow_insecure = true
timescaledb = "preferred"
lock_timeout = "1s"
lock_retries = 1
connect_timeout = 10
backup_dir = "{root}/backups/{{name}}"
report_log = "{root}/logs/migrate-{{name}}.log"
"""
# The dev and production environments most migrate tests run against.
MIGRATE_TABLES = """
[environments.dev]
require_backup = false

[environments.production]
require_backup = true
require_confirmation = true
timescaledb = "required"
keep_backups = 2
"""
MIGRATE_ENVIRONMENTS = DEFAULTS + MIGRATE_TABLES  # for tests that write the file themselves


def write_test_environments(
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    environments: str,
    *,
    defaults: str = "",
) -> Path:
    """DEFAULTS (plus `defaults` lines) and `environments` as tmp_path/environments.toml, in use.

    Points SCHEMAFLOW_ENVIRONMENTS at the file and SCHEMAFLOW_TEST_URL at `db_url`, and clears
    SKIP_CONFIRMATION so no test confirms by accident. Returns `tmp_path`.
    """
    path = tmp_path / "environments.toml"
    path.write_text(DEFAULTS.format(root=tmp_path) + defaults + "\n" + environments)
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    monkeypatch.setenv("SCHEMAFLOW_TEST_URL", db_url)
    monkeypatch.delenv("SKIP_CONFIRMATION", raising=False)
    return tmp_path


def use_test_environments(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MIGRATE_TABLES' dev and production environments, in use."""
    return write_test_environments(tmp_path, db_url, monkeypatch, MIGRATE_TABLES)
