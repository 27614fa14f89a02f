"""Locating and reading the master schema file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from db.errors import ConfigError

MASTER_SCHEMA = Path(__file__).resolve().parents[1] / "migrations" / "99999999999999_master_schema.sql"


def read_schema(path: Path | str | None = None) -> str:
    """Return the text of the master file (or of `path`); a missing file is a ConfigError."""
    target = Path(path) if path else MASTER_SCHEMA
    try:
        return target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"schema file {target} not found",
            hint="pass the master schema file's path, or run from a full checkout",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"schema file {target} is a directory",
            hint="pass the path of one .sql file, e.g. db/migrations/99999999999999_master_schema.sql",
        ) from None
    except (PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"schema file {target} cannot be read: {type(exc).__name__}: {exc}",
            hint="pass a readable UTF-8 .sql file",
        ) from None


def checksum(sql_text: str) -> str:
    """SHA-256 of the file's text: what the history table records to tell versions apart."""
    return hashlib.sha256(sql_text.encode("utf-8")).hexdigest()
