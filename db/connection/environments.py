"""Deployment environments (local, staging, production, ...) read from one declarative TOML file.

Each table is validated by a pydantic model (EnvironmentSettings): a wrong key, type or value is one
line naming the file, the table, the key and what is allowed.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from db.connection.urls import mask_url
from db.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = PROJECT_ROOT / "environments.toml"
FILE_ENV_VAR = "SCHEMAFLOW_ENVIRONMENTS"
TimescalePolicy = Literal["required", "preferred"]
BackupStrategy = Literal["pg_dump", "pgbackrest"]  # db/backup/dump.py, db/backup/pgbackrest.py
TIMESCALEDB_POLICIES = get_args(TimescalePolicy)
BACKUP_STRATEGIES = get_args(BackupStrategy)
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
    # One-off migrations (db/versions/): their folder beside the master (None: db/migrations), and
    # whether a pending file older than the newest applied one may run (recorded as out of order).
    migrations_dir: Path | None = None
    allow_out_of_order: bool = False
    # Where plan, drift and migrate build the expected side (db/catalog/scratch.py): a database name
    # on the target's server, or a URL without a password; None: schemaflow_scratch on the target's.
    scratch_url: str | None = None

    @property
    def requires_timescaledb(self) -> bool:
        return self.timescaledb == "required"


def _duration(text: str) -> str:
    if not _DURATION.match(text.strip()):
        raise ValueError("is not a PostgreSQL duration: write e.g. '100ms', '1s', '15min', '1d'")
    return text.strip()


def _hazard_names(values: list[str]) -> list[str]:
    """allow_hazards as given, refused when a name is not a Hazard kind (or "all")."""
    from db.plan.model import Hazard

    known = {h.value for h in Hazard} | {"all"}
    names = [str(v).strip().lower() for v in values]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"names unknown hazard kind(s) {unknown}: use any of {', '.join(sorted(known))}")
    return names


def _no_password(text: str) -> str:
    """scratch_url as given, refused when it carries a password (this file is committed)."""
    from psycopg.conninfo import conninfo_to_dict

    if "://" in text or "=" in text:
        try:
            password = conninfo_to_dict(text).get("password")
        except Exception as exc:
            raise ValueError(
                f"is not a connection URL ({type(exc).__name__}): write e.g. 'app_scratch'"
            ) from None
        if password:
            raise ValueError(
                "carries a password: leave it out (libpq reads PGPASSWORD or ~/.pgpass), or give only "
                "a database name on the target's server, e.g. 'app_scratch'"
            )
    return text.strip()


Duration = Annotated[str, AfterValidator(_duration)]


class EnvironmentSettings(BaseModel):
    """One [defaults] or [environments.NAME] table of environments.toml, checked key by key.

    Strict: `keep_backups = "5"` or `keep_backups = true` is a mistake to report, not to coerce.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    description: str = ""
    database_url_env: str = "DATABASE_URL"
    secret_block: str = ""
    local: bool = False
    require_backup: bool = True
    require_confirmation: bool = False
    timescaledb: TimescalePolicy = "required"
    lock_timeout: Duration = "1s"
    statement_timeout: Duration = "5min"
    lock_retries: Annotated[int, Field(ge=0)] = 3
    connect_timeout: Annotated[int, Field(ge=1)] = 10
    backup_dir: str = ".local/backups"
    keep_backups: Annotated[int, Field(ge=1)] = 5
    allow_insecure: bool = False
    report_log: str = ".local/logs/migrate-{name}.log"
    target_schema: str = "public"
    allow_hazards: Annotated[list[str], AfterValidator(_hazard_names)] = []
    exclude_schemas: list[str] = []
    backup: BackupStrategy = "pg_dump"
    max_backup_age: Duration = "1d"
    pgbackrest_stanza: str = ""
    pgbackrest_config: str = ""
    require_approval: bool = False
    approval_timeout: Duration = "1h"
    migrations_dir: str = ""
    allow_out_of_order: bool = False
    scratch_url: Annotated[str, AfterValidator(_no_password)] = ""


assert set(EnvironmentSettings.model_fields) == {f.name for f in fields(Environment)} - {"name"}


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
    defaults = _checked(data.get("defaults", {}), path, "[defaults]")
    tables = data.get("environments", {})
    if not tables:
        raise ConfigError(f"{path} defines no environments", hint="add an [environments.NAME] table")
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: environments must be tables", hint="write [environments.NAME]")
    return {
        name: _build(
            name, _settings(defaults | _table(table, path, name), path, f"[environments.{name}]"), path.parent
        )
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


def _table(table: Any, path: Path, name: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: environments.{name} must be a table", hint=f"write [environments.{name}]")
    return table


def _checked(table: Any, path: Path, where: str) -> dict[str, Any]:
    """The [defaults] table as given, once it validates on its own (so its errors name [defaults])."""
    _settings(table, path, where)
    return dict(table)


def _settings(table: Any, path: Path, where: str) -> EnvironmentSettings:
    """The table through EnvironmentSettings; its first error as one line naming file, key, allowed values."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table", hint=f"write {where} on a line of its own")
    try:
        return EnvironmentSettings.model_validate(table)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message, hint = _describe(errors[0], table)
        raise ConfigError(f"{path}: {where} {message}{more}", hint=hint) from None


def _describe(error: Any, table: dict[str, Any]) -> tuple[str, str]:
    """(what is wrong with the key, what to write instead) for one pydantic error."""
    key = str(error["loc"][0]) if error["loc"] else "?"
    if error["type"] == "extra_forbidden":
        return f"has unknown key {key!r}", f"known keys: {', '.join(EnvironmentSettings.model_fields)}"
    value = table.get(key)
    field = EnvironmentSettings.model_fields.get(key)
    annotation = field.annotation if field else None
    allowed = get_args(annotation) if get_origin(annotation) is Literal else ()
    shown = mask_url(_toml(value))  # scratch_url may carry the password it is refused for
    if allowed:
        return f"{key} = {shown} is not allowed", f"use one of: {', '.join(allowed)}"
    if error["type"] == "greater_than_equal":
        return f"{key} = {shown} is too small", f"use {error['ctx']['ge']} or more"
    if error["type"] == "value_error":  # our own validators (durations) say what to write
        reason, _, example = str(error["msg"]).removeprefix("Value error, ").partition(": ")
        return f"{key} = {shown} {reason}", example or reason
    expected = _TYPE_NAMES.get(error["type"].split("_")[0], "")
    if expected:
        return f"{key} = {shown} should be of type {expected}", f"write e.g. {key} = {_example(field)}"
    return f"{key} = {shown}: {error['msg']}", f"write e.g. {key} = {_example(field)}"


_TYPE_NAMES = {"int": "int", "bool": "bool", "string": "str", "list": "list"}


def _example(field: Any) -> str:
    """A TOML spelling of the field's default, to show what a valid value looks like."""
    return _toml(field.default if field is not None else "")


def _toml(value: Any) -> str:
    """`value` as it would be written in the file (true, 'text', [...]), for the error line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value).replace("True", "true").replace("False", "false")


def _build(name: str, values: EnvironmentSettings, base: Path) -> Environment:
    return Environment(
        name=name,
        description=values.description,
        database_url_env=values.database_url_env or None,
        secret_block=values.secret_block or None,
        local=values.local,
        require_backup=values.require_backup,
        require_confirmation=values.require_confirmation,
        timescaledb=values.timescaledb,
        lock_timeout=values.lock_timeout,
        statement_timeout=values.statement_timeout,
        lock_retries=values.lock_retries,
        connect_timeout=values.connect_timeout,
        backup_dir=_path(values.backup_dir, name, base),
        keep_backups=values.keep_backups,
        allow_insecure=values.allow_insecure,
        report_log=_path(values.report_log, name, base),
        target_schema=values.target_schema,
        allow_hazards=tuple(values.allow_hazards),
        exclude_schemas=tuple(values.exclude_schemas),
        backup=values.backup,
        max_backup_age=values.max_backup_age,
        pgbackrest_stanza=values.pgbackrest_stanza or name,
        pgbackrest_config=values.pgbackrest_config and str(_path(values.pgbackrest_config, name, base)),
        require_approval=values.require_approval,
        approval_timeout=values.approval_timeout,
        migrations_dir=_path(values.migrations_dir, name, base) if values.migrations_dir else None,
        allow_out_of_order=values.allow_out_of_order,
        scratch_url=values.scratch_url or None,
    )


_SECONDS_PER_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600, "d": 86400}


def approval_seconds(text: str) -> float:
    """A duration such as approval_timeout ('1h', '15min', '90s'; a bare number is seconds) in seconds."""
    match = re.match(r"^(\d+)\s*(us|ms|s|min|h|d)?$", text.strip())
    if not match:
        raise ConfigError(f"{text!r} is not a duration", hint="write e.g. '15min', '1h'")
    return int(match.group(1)) * _SECONDS_PER_UNIT[match.group(2) or "s"]


def scratch_setting(env: Environment, override: Any = None) -> str | None:
    """The scratch database for a run: an override (a str, or a SecretStr from a flow), else the file's."""
    if override:
        return str(override.get_secret_value() if hasattr(override, "get_secret_value") else override)
    return env.scratch_url


def _path(text: str, name: str, base: Path) -> Path:
    path = Path(text.replace("{name}", name)).expanduser()
    return path if path.is_absolute() else base / path
