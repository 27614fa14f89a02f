"""Deployment environments (local, staging, production, ...) read from one declarative TOML file."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from db.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = PROJECT_ROOT / "environments.toml"
FILE_ENV_VAR = "SCHEMAFLOW_ENVIRONMENTS"
TIMESCALEDB_POLICIES = ("required", "preferred")
BACKUP_STRATEGIES = ("pg_dump", "pgbackrest")  # db/backup/dump.py, db/backup/pgbackrest.py
# PostgreSQL duration syntax as SET lock_timeout accepts it; "0" means no timeout.
_DURATION = re.compile(r"^\d+\s*(us|ms|s|min|h|d)?$")


@dataclass(frozen=True)
class Environment:
    """One deployment target and the safety rules that apply to it."""

    name: str
    description: str
    database_url_env: str | None
    secret_block: str | None
    local: bool
    require_backup: bool
    require_confirmation: bool
    timescaledb: str
    lock_timeout: str
    statement_timeout: str
    lock_retries: int
    connect_timeout: int
    backup_dir: Path
    keep_backups: int
    allow_insecure: bool
    report_log: Path
    target_schema: str = "public"
    # Hazard kinds (db.plan.model.Hazard values, or "all") a plan may carry here (db/deploy/hazards.py).
    allow_hazards: tuple[str, ...] = ()
    # Schemas drift and plan leave out (TimescaleDB's internal ones and schemaflow's own always are).
    exclude_schemas: tuple[str, ...] = ()
    # How the run makes its safe point before apply: a pg_dump copy, or a pgBackRest restore point.
    backup: str = "pg_dump"
    max_backup_age: str = "1d"  # pgbackrest: preflight wants a full/diff backup at most this old
    pgbackrest_stanza: str = ""  # pgbackrest: the stanza; empty means the environment's name
    pgbackrest_config: str = ""  # pgbackrest: its configuration file; empty means pgBackRest's default
    # A person approves the computed plan inside the run (flows/migrate.py) before anything changes.
    require_approval: bool = False
    approval_timeout: str = "1h"  # how long a run waits for that approval before failing unchanged

    @property
    def requires_timescaledb(self) -> bool:
        return self.timescaledb == "required"


_TYPES: dict[str, type | tuple[type, ...]] = {
    "description": str,
    "database_url_env": str,
    "secret_block": str,
    "local": bool,
    "require_backup": bool,
    "require_confirmation": bool,
    "timescaledb": str,
    "lock_timeout": str,
    "statement_timeout": str,
    "lock_retries": int,
    "connect_timeout": int,
    "backup_dir": str,
    "keep_backups": int,
    "allow_insecure": bool,
    "report_log": str,
    "target_schema": str,
    "allow_hazards": list,
    "exclude_schemas": list,
    "backup": str,
    "max_backup_age": str,
    "pgbackrest_stanza": str,
    "pgbackrest_config": str,
    "require_approval": bool,
    "approval_timeout": str,
}
_BUILTIN_DEFAULTS: dict[str, Any] = {
    "description": "",
    "database_url_env": "DATABASE_URL",
    "secret_block": "",
    "local": False,
    "require_backup": True,
    "require_confirmation": False,
    "timescaledb": "required",
    "lock_timeout": "1s",
    "statement_timeout": "5min",
    "lock_retries": 3,
    "connect_timeout": 10,
    "backup_dir": ".local/backups",
    "keep_backups": 5,
    "allow_insecure": False,
    "report_log": ".local/logs/migrate-{name}.log",
    "target_schema": "public",
    "allow_hazards": [],
    "exclude_schemas": [],
    "backup": "pg_dump",
    "max_backup_age": "1d",
    "pgbackrest_stanza": "",
    "pgbackrest_config": "",
    "require_approval": False,
    "approval_timeout": "1h",
}
assert set(_TYPES) == {f.name for f in fields(Environment)} - {"name"}


def _hazard_names(values: list, where: str) -> tuple[str, ...]:
    """allow_hazards as given, refused when a name is not a Hazard kind (or "all")."""
    from db.plan.model import Hazard

    known = {h.value for h in Hazard} | {"all"}
    names = tuple(str(v).strip().lower() for v in values)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"{where}: allow_hazards names unknown hazard kind(s) {unknown}",
            hint=f"use any of {sorted(known)}",
        )
    return names


def environments_file() -> Path:
    """The environments file in use: $SCHEMAFLOW_ENVIRONMENTS, else environments.toml at the repo root."""
    override = os.environ.get(FILE_ENV_VAR, "").strip()
    return Path(override).expanduser() if override else DEFAULT_FILE


def load_environments(path: Path | None = None) -> dict[str, Environment]:
    """Read and validate every environment in the file; raise ConfigError naming the bad key."""
    path = path or environments_file()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"environments file {path} does not exist", hint=f"create it, or point {FILE_ENV_VAR} at one"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"environments file {path} is not valid TOML: {exc}") from None
    unknown_sections = set(data) - {"defaults", "environments"}
    if unknown_sections:
        raise ConfigError(
            f"{path}: unknown section(s) {sorted(unknown_sections)}",
            hint="use [defaults] and [environments.NAME]",
        )
    defaults = {**_BUILTIN_DEFAULTS, **_checked(data.get("defaults", {}), path, "[defaults]")}
    tables = data.get("environments", {})
    if not tables:
        raise ConfigError(f"{path} defines no environments", hint="add an [environments.NAME] table")
    return {
        name: _build(name, {**defaults, **_checked(table, path, f"[environments.{name}]")}, path.parent)
        for name, table in tables.items()
    }


def get_environment(name: str, path: Path | None = None) -> Environment:
    """The named environment; ConfigError listing the known names when there is no such environment."""
    environments = load_environments(path)
    if name not in environments:
        known = ", ".join(sorted(environments))
        raise ConfigError(
            f"unknown environment {name!r}; known environments: {known}",
            hint=f"use one of them, or add [environments.{name}] to {path or environments_file()}",
        )
    return environments[name]


def _checked(table: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    for key, value in table.items():
        expected = _TYPES.get(key)
        if expected is None:
            raise ConfigError(
                f"{path}: {where} has unknown key {key!r}", hint=f"known keys: {', '.join(sorted(_TYPES))}"
            )
        # bool is a subclass of int in Python; `keep_backups = true` is still a mistake.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: {where} {key} = {value!r} should be of type {expected.__name__}")  # type: ignore[union-attr]
    return dict(table)


def _build(name: str, values: dict[str, Any], base: Path) -> Environment:
    where = f"environment {name!r}"
    if values["timescaledb"] not in TIMESCALEDB_POLICIES:
        raise ConfigError(
            f"{where}: timescaledb = {values['timescaledb']!r}",
            hint=f"use one of {', '.join(TIMESCALEDB_POLICIES)}",
        )
    for key in ("lock_timeout", "statement_timeout", "approval_timeout"):
        if not _DURATION.match(values[key].strip()):
            raise ConfigError(
                f"{where}: {key} = {values[key]!r} is not a PostgreSQL duration",
                hint="write e.g. '100ms', '1s', '15min'",
            )
    if values["backup"] not in BACKUP_STRATEGIES or not _DURATION.match(values["max_backup_age"].strip()):
        raise ConfigError(
            f"{where}: backup = {values['backup']!r}, max_backup_age = {values['max_backup_age']!r}",
            hint=f"backup is one of {', '.join(BACKUP_STRATEGIES)}; max_backup_age a duration such as '1d'",
        )
    for key in ("lock_retries", "connect_timeout", "keep_backups"):
        if values[key] < (1 if key != "lock_retries" else 0):
            raise ConfigError(f"{where}: {key} = {values[key]} is too small")
    return Environment(
        name=name,
        description=values["description"],
        database_url_env=values["database_url_env"] or None,
        secret_block=values["secret_block"] or None,
        local=values["local"],
        require_backup=values["require_backup"],
        require_confirmation=values["require_confirmation"],
        timescaledb=values["timescaledb"],
        lock_timeout=values["lock_timeout"].strip(),
        statement_timeout=values["statement_timeout"].strip(),
        lock_retries=values["lock_retries"],
        connect_timeout=values["connect_timeout"],
        backup_dir=_path(values["backup_dir"], name, base),
        keep_backups=values["keep_backups"],
        allow_insecure=values["allow_insecure"],
        report_log=_path(values["report_log"], name, base),
        target_schema=values["target_schema"],
        allow_hazards=_hazard_names(values["allow_hazards"], where),
        exclude_schemas=tuple(str(s) for s in values["exclude_schemas"]),
        backup=values["backup"],
        max_backup_age=values["max_backup_age"].strip(),
        pgbackrest_stanza=values["pgbackrest_stanza"] or name,
        pgbackrest_config=values["pgbackrest_config"] and str(_path(values["pgbackrest_config"], name, base)),
        require_approval=values["require_approval"],
        approval_timeout=values["approval_timeout"].strip(),
    )


_SECONDS_PER_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600, "d": 86400}


def approval_seconds(text: str) -> float:
    """A duration such as approval_timeout ('1h', '15min', '90s'; a bare number is seconds) in seconds."""
    match = re.match(r"^(\d+)\s*(us|ms|s|min|h|d)?$", text.strip())
    if not match:
        raise ConfigError(f"{text!r} is not a duration", hint="write e.g. '15min', '1h'")
    return int(match.group(1)) * _SECONDS_PER_UNIT[match.group(2) or "s"]


def _path(text: str, name: str, base: Path) -> Path:
    path = Path(text.replace("{name}", name)).expanduser()
    return path if path.is_absolute() else base / path
