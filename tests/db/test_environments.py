"""The environments file: the shipped environments, unknown names, and environments added without code."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.connection.environments import get_environment, load_environments
from db.errors import ConfigError


def test_shipped_file_defines_the_three_environments_with_their_rules() -> None:
    envs = load_environments()
    assert {"local", "staging", "production"} <= set(envs)
    local, staging, production = envs["local"], envs["staging"], envs["production"]
    assert local.local and not local.require_backup and not local.require_confirmation
    assert local.timescaledb == "preferred"
    assert staging.secret_block and staging.require_backup and not staging.require_confirmation
    assert production.require_backup and production.require_confirmation
    assert production.requires_timescaledb and staging.requires_timescaledb
    assert production.lock_timeout == "1s" and production.lock_retries >= 3
    assert production.report_log.name == "migrate-production.log"


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown environment 'prod'") as info:
        get_environment("prod")
    assert "local, production, staging" in info.value.message
    assert info.value.exit_code == 2


def test_custom_file_adds_an_environment_without_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "envs.toml"
    path.write_text(
        '[defaults]\nkeep_backups = 2\nbackup_dir = "backups"\n'
        '[environments.qa]\ndatabase_url_env = "QA_DATABASE_URL"\nlock_timeout = "250ms"\n'
        'timescaledb = "preferred"\nallow_insecure = true\n'
    )
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(path))
    qa = get_environment("qa")
    assert qa.database_url_env == "QA_DATABASE_URL"
    assert qa.lock_timeout == "250ms" and qa.keep_backups == 2 and qa.allow_insecure
    assert qa.backup_dir == tmp_path / "backups"
    with pytest.raises(ConfigError, match="known environments: qa"):
        get_environment("production")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("[environments.x]\nrequire_bakcup = true\n", "unknown key 'require_bakcup'"),
        ("[environments.x]\nkeep_backups = 'many'\n", "should be of type int"),
        ("[environments.x]\nlock_timeout = 'soon'\n", "not a PostgreSQL duration"),
        ("[environments.x]\ntimescaledb = 'maybe'\n", "timescaledb = 'maybe'"),
        ("[environments.x\n", "not valid TOML"),
        ("[defaults]\n", "defines no environments"),
    ],
)
def test_bad_file_is_a_config_error_naming_the_problem(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "envs.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=fragment):
        load_environments(path)


def test_missing_file_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMAFLOW_ENVIRONMENTS", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        get_environment("local")


@pytest.mark.parametrize(
    ("body", "key", "allowed"),
    [
        ("[environments.x]\ntimescaledb = 'maybe'\n", "timescaledb = 'maybe'", "required, preferred"),
        (
            "[defaults]\nbackup = 'tar'\n[environments.x]\n",
            "[defaults] backup = 'tar'",
            "pg_dump, pgbackrest",
        ),
        ("[environments.x]\nkeep_backups = true\n", "keep_backups = true", "keep_backups = 5"),
        ("[environments.x]\nconnect_timeout = 0\n", "connect_timeout = 0", "1 or more"),
        ("[environments.x]\nallow_hazards = ['nope']\n", "allow_hazards = ['nope']", "blocks_writes"),
        ("[environments.x]\napproval_timeout = 'soon'\n", "approval_timeout = 'soon'", "'15min'"),
        (
            "[environments.x]\nscratch_url = 'postgresql://owner:Sup3rSecret@db.example/app_scratch'\n",
            "carries a password",
            "'app_scratch'",
        ),
    ],
)
def test_bad_value_is_one_line_naming_file_key_and_allowed_values(
    tmp_path: Path, body: str, key: str, allowed: str
) -> None:
    """The pydantic model's error: one line with the file and the key, the hint with what is allowed."""
    path = tmp_path / "envs.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_environments(path)
    assert info.value.message.startswith(f"{path}: "), info.value.message
    assert key in info.value.message and "\n" not in info.value.message, info.value.message
    assert allowed in (info.value.hint or ""), info.value.hint
    assert "Sup3rSecret" not in info.value.message + (info.value.hint or "")


def test_scratch_url_is_a_database_name_or_a_url_without_password(tmp_path: Path) -> None:
    from db.catalog.scratch import SCRATCH_DATABASE, scratch_site
    from db.connection.environments import scratch_setting

    path = tmp_path / "envs.toml"
    path.write_text("[environments.managed]\nscratch_url = 'app_scratch'\n[environments.plain]\n")
    envs = load_environments(path)
    target = "postgresql://owner:pw@db.example:5432/app"
    named = scratch_site(target, scratch_setting(envs["managed"]))
    assert (named.url, named.managed) == ("postgresql://owner:pw@db.example:5432/app_scratch", False)
    default = scratch_site(target, scratch_setting(envs["plain"]))
    assert default.database == SCRATCH_DATABASE and default.managed  # created once, reset if needed
    assert scratch_setting(envs["managed"], "postgresql://x@other/s") == "postgresql://x@other/s"


def test_every_key_of_the_shipped_file_keeps_its_value() -> None:
    """The model replaced a type table: each key written in environments.toml still arrives as written."""
    envs = load_environments()
    assert envs["local"].lock_timeout == "10s" and envs["local"].allow_hazards == ("all",)
    assert envs["production"].require_approval and envs["production"].approval_timeout == "1h"
    assert envs["staging"].secret_block == "schemaflow-staging-database-url"
    assert envs["staging"].backup == "pg_dump" and envs["staging"].pgbackrest_stanza == "staging"
