"""One-off migration files beside the master: `<UTC timestamp>_<slug>.sql` in the migrations folder.

A one-off runs once, in version order, before the master file's plan. Its header comment carries
its directives (lines `-- schemaflow: ...` before the first statement):

- `no-transaction`: run statement by statement in autocommit (CREATE INDEX CONCURRENTLY and the
  like), each under lock_timeout and retried on a lock timeout;
- `batch N`: each top-level `UPDATE ... WHERE <not yet done>` runs in batches of N rows keyed on
  the table's primary key, each batch its own transaction (db/versions/backfill.py); the file's
  other statements run as in a no-transaction file;
- `destroys-data acknowledged: <reason>`: the reviewed acknowledgement the linter wants for a file
  that drops or rewrites (db/versions/lint.py);
- `locks acknowledged: <reason>`: the reviewed acknowledgement for a file that SETs its own
  lock_timeout/statement_timeout above the environment's or takes an explicit ACCESS EXCLUSIVE lock
  (db/versions/lock_rules.py).

A line `-- schemaflow: down` starts the section that undoes the file (db/versions/rollback.py).
The checksum covers the whole file, so an edit of its down section after it ran is an edit too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from db.errors import ConfigError
from db.schema.statements import split_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MIGRATIONS_DIR = PROJECT_ROOT / "db" / "migrations"
MASTER_VERSION = "99999999999999"
FILE_NAME = re.compile(r"^(?P<version>\d{14})_(?P<slug>[a-z0-9][a-z0-9_]*)\.sql$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_]*$")
DIRECTIVE = re.compile(r"^\s*--\s*schemaflow:\s*(?P<body>.*?)\s*$", re.IGNORECASE)
DOWN_MARKER = re.compile(r"^\s*--\s*schemaflow:\s*down\s*$", re.IGNORECASE | re.MULTILINE)
ACKNOWLEDGED = re.compile(r"^destroys-data acknowledged:\s*(?P<reason>\S.*)$", re.IGNORECASE)
LOCKS_ACKNOWLEDGED = re.compile(r"^locks acknowledged:\s*(?P<reason>\S.*)$", re.IGNORECASE)
BATCH = re.compile(r"^batch\s+(?P<rows>\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class MigrationFile:
    """One parsed one-off file: its version, its up and down SQL, and its directives."""

    version: str
    slug: str
    path: Path
    text: str
    up: str
    down: str | None  # None: the file has no `-- schemaflow: down` line
    no_transaction: bool = False
    batch: int | None = None  # rows per batch for its UPDATEs
    acknowledged: str = ""  # the reason given in `destroys-data acknowledged: ...`
    locks_acknowledged: str = ""  # the reason given in `locks acknowledged: ...`

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checksum(self) -> str:
        return file_checksum(self.text)

    @property
    def has_down(self) -> bool:
        """A down section with at least one statement (the template's empty one does not count)."""
        return bool(self.down and split_file(self.down))

    @property
    def transactional(self) -> bool:
        """Runs inside the migrate transaction (neither no-transaction nor batched)."""
        return not self.no_transaction and self.batch is None

    def directives(self) -> str:
        """The directives as the plan listing shows them ('transaction' when it has none)."""
        parts = ["no-transaction"] if self.no_transaction else []
        if self.batch is not None:
            parts.append(f"batch {self.batch}")
        parts.append("has down" if self.has_down else "no down")
        return ", ".join(parts if not self.transactional else ["transaction", *parts])


def file_checksum(text: str) -> str:
    """SHA-256 of a one-off's text, line endings normalised (a checkout's CRLF is not an edit)."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def discover_migrations(directory: Path | str | None = None) -> list[MigrationFile]:
    """The one-off files in `directory` (default db/migrations), oldest version first.

    The master file (99999999999999_...) is not a one-off; any other .sql whose name is not
    `<14-digit UTC timestamp>_<slug>.sql` is refused, so a typo never makes a file silently skipped.
    """
    folder = Path(directory) if directory else DEFAULT_MIGRATIONS_DIR
    if not folder.is_dir():
        raise ConfigError(
            f"migrations folder {folder} does not exist",
            hint="set migrations_dir in environments.toml to the folder holding the master file",
        )
    files: list[MigrationFile] = []
    seen: dict[str, str] = {}
    # Every case of .sql: a file named .SQL would otherwise never run, and nothing would say so.
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".sql" and p.is_file()):
        match = FILE_NAME.match(path.name)
        if match is None:
            raise ConfigError(
                f"{path.name} in {folder} is not named <UTC timestamp>_<slug>.sql: {_name_fault(path.name)}",
                hint="rename it like 20261201103000_rename_column.sql (schemaflow new-migration SLUG)",
            )
        if match["version"] == MASTER_VERSION:
            continue
        if not _is_timestamp(match["version"]):
            raise ConfigError(
                f"{path.name} in {folder}: {match['version']} is not a UTC date and time (YYYYMMDDHHMMSS)",
                hint="rename it with the time it was written (schemaflow new-migration SLUG does)",
            )
        if match["version"] in seen:
            raise ConfigError(
                f"{path.name} and {seen[match['version']]} share version {match['version']}",
                hint="give one of them a later timestamp",
            )
        seen[match["version"]] = path.name
        files.append(parse_migration(path))
    return files


def _is_timestamp(version: str) -> bool:
    try:
        datetime.strptime(version, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


def _name_fault(name: str) -> str:
    """Which part of a one-off's name is wrong, for the refusal."""
    stem, _, suffix = name.rpartition(".")
    if suffix != "sql":
        return f"its extension is .{suffix}, not .sql"
    version, _, slug = stem.partition("_")
    if not re.fullmatch(r"\d{14}", version):
        return f"it must start with a 14-digit UTC timestamp, not {version!r}"
    if not SLUG.match(slug):
        return f"its slug {slug!r} must be lower-case letters, digits and underscores"
    return "see the pattern"


def read_utf8(path: Path) -> str:
    """The file's text; a ConfigError naming the file, the byte offset and line of the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path} is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}) "
            f"cannot be decoded ({exc.reason})",
            hint=f"save {path.name} as UTF-8 (e.g. iconv -f LATIN1 -t UTF-8), then run again",
        ) from None


def parse_migration(path: Path) -> MigrationFile:
    """Read one one-off: split at `-- schemaflow: down`, read the header's directives."""
    match = FILE_NAME.match(path.name)
    if match is None:
        raise ConfigError(f"{path.name} is not named <UTC timestamp>_<slug>.sql")
    text = read_utf8(path)
    markers = list(DOWN_MARKER.finditer(text))
    if len(markers) > 1:
        raise ConfigError(f"{path.name} has {len(markers)} '-- schemaflow: down' lines", hint="keep one")
    up, down = (text[: markers[0].start()], text[markers[0].end() :]) if markers else (text, None)
    no_transaction, batch, acknowledged, locks = False, None, "", ""
    for line in _header(up):
        directive = DIRECTIVE.match(line)
        if directive is None:
            continue
        body = directive["body"]
        if body.lower() == "no-transaction":
            no_transaction = True
        elif batch_match := BATCH.match(body):
            batch = int(batch_match["rows"])
            if batch < 1:
                raise ConfigError(f"{path.name}: batch {batch} must be at least 1")
        elif ack := ACKNOWLEDGED.match(body):
            acknowledged = ack["reason"]
        elif locks_ack := LOCKS_ACKNOWLEDGED.match(body):
            locks = locks_ack["reason"]
        else:
            raise ConfigError(
                f"{path.name}: unknown directive '-- schemaflow: {body}'",
                hint="use no-transaction, batch N, destroys-data acknowledged: REASON, "
                "locks acknowledged: REASON, or down",
            )
    return MigrationFile(
        version=match["version"], slug=match["slug"], path=path, text=text, up=up,
        down=down,
        no_transaction=no_transaction, batch=batch, acknowledged=acknowledged, locks_acknowledged=locks,
    )  # fmt: skip


def _header(up: str) -> list[str]:
    """The comment and blank lines before the file's first statement."""
    lines = []
    for line in up.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            break
        lines.append(line)
    return lines


def new_version(now: datetime | None = None) -> str:
    """A version for a new file: the current UTC time as YYYYMMDDHHMMSS."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
