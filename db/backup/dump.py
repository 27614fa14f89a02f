"""Backups with pg_dump, checked with pg_restore --list, pruned per database (environment, server, name).

Restore is db/backup/restore.py.

Format, measured on ~1M listener_events rows in a 30-chunk hypertable (231 MB database, PostgreSQL 15
on 2 busy cores; best of 5-7 runs, benchmarks/bench_backup.py reproduces the comparison):

    -Fc default (zlib 6)  5.4 s  53 MB      -Fd -j1 -Z1   2.8 s  59 MB
    -Fc -Z6               4.7 s  53 MB      -Fd -j2 -Z1   2.3 s  59 MB
    -Fc -Z1               2.9 s  59 MB      -Fd -j2 -Z0   1.7 s 224 MB
    -Fc -Z0               2.4 s 229 MB

benchmarks/bench_backup.py on the full master schema seeded by db.local.seed (1.05M rows, 509 MB, load ~6.7
on 2 cores, median of 3): backup_database 10.3 s / 75 MB vs `pg_dump -Fc` 29.5 s / 65 MB (2.9x faster);
-Fc -Z0 7.3 s / 306 MB, -Fc -Z1 11.4 s, -Fd -j1 -Z1 10.9 s, -Fd -j2 -Z1 8.1 s, -Fd -j2 -Z0 6.0 s / 301 MB.

Compression level dominates: -Z1 halves the time for 11% more bytes; -Z0 saves little more time
and quadruples the size. Only the directory format dumps (and restores) in parallel, and every
hypertable chunk is its own table, so it parallelises well. So: directory format, -Z1, one job per
core (at most 4, each job is a connection to the server).

Secrets: the password reaches pg_dump/pg_restore through PGPASSWORD in the child's environment, never
the command line (ps shows that to every user) and never a log line.

Each backup carries a manifest of where it came from (db/backup/manifest.py), and pg_dump dies with
schemaflow (db/backup/processes.py); an unfinished backup a killed run left behind is removed by the
environment's next backup (db/backup/partials.py).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from db.backup import processes
from db.backup.manifest import (
    BackupManifest,
    ServerIdentity,
    new_manifest,
    read_manifest,
    read_system_identifier,
    schema_checksum,
    write_manifest,
)
from db.backup.partials import PARTIAL_SUFFIX, claimed, remove_stale_partials
from db.backup.unfinished import ADMIN_DATABASE, try_remove_unfinished_restores
from db.connection.connect import connect
from db.connection.environments import Environment
from db.connection.urls import libpq_subprocess_args, mask_secret, mask_url, validate_url, with_database
from db.errors import BackupFailed, CheckFailed
from db.local.cluster import PG_BIN
from db.progress import Progress, watching_size

BACKUP_SUFFIX = ".dumpdir"
COMPRESSION = 1
MAX_JOBS = 4
_NAME = re.compile(r"^(?P<env>.+)-(?P<stamp>\d{8}T\d{6}\.\d{3}Z)" + re.escape(BACKUP_SUFFIX) + "$")
# pg_dump warns about TimescaleDB's own catalog tables referencing each other; harmless for a full dump.
_TIMESCALE_CATALOG_TABLES = {"hypertable", "chunk", "continuous_agg", "dimension", "chunk_constraint"}
_VERSION_MISMATCH = "server version mismatch"


@dataclass(frozen=True)
class BackupResult:
    """A verified backup: where it is, how big, how long it took, how many archive entries it lists."""

    path: Path
    environment: str
    size_bytes: int
    seconds: float
    entries: int
    timescaledb: bool
    manifest: BackupManifest
    warnings: list[str] = field(default_factory=list)
    stale_removed: list[Path] = field(default_factory=list)  # unfinished backups of killed runs
    restores_removed: list[str] = field(default_factory=list)  # databases of interrupted restores, dropped


@dataclass(frozen=True)
class ArchiveContents:
    """What `pg_restore --list` shows: entries, how many of them are tables, TimescaleDB or not."""

    entries: int
    tables: int
    timescaledb: bool
    dbname: str | None = None  # the header's "; dbname:" line: what pg_dump itself read


def backup_name(env_name: str, now: datetime | None = None) -> str:
    """`<env>-<UTC timestamp>.dumpdir`, which sorts oldest first."""
    now = now or datetime.now(UTC)
    return f"{env_name}-{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z{BACKUP_SUFFIX}"


def backup_database(
    url: str,
    env: Environment,
    *,
    backup_dir: Path | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> BackupResult:
    """pg_dump `url` into env.backup_dir and verify it; raise BackupFailed (no backup, no apply).

    While pg_dump writes, the size so far goes to `progress` (else to db.progress's listeners).
    """
    parts = validate_url(url)
    identity, checksum, client_version = _check_server(url, env, parts)
    target_dir = backup_dir or env.backup_dir
    dir_warnings = _private_dir(target_dir)
    restores_removed, restore_warnings = try_remove_unfinished_restores(
        with_database(url, ADMIN_DATABASE), env.name, env.connect_timeout
    )
    stale = remove_stale_partials(target_dir, lambda name: is_backup_of(name, env.name))
    final = target_dir / backup_name(env.name)
    started = time.monotonic()
    with claimed(final.with_name(final.name + PARTIAL_SUFFIX)) as partial:
        args = ["--format=directory", f"--jobs={jobs or default_jobs()}", f"--compress={COMPRESSION}"]
        with watching_size(partial, "pg_dump", progress):
            result = run_pg_tool("pg_dump", [*args, f"--file={partial}"], url, env.connect_timeout)
        warnings = dir_warnings + restore_warnings + _visible_warnings(result.stderr)
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise _dump_error(result.stderr, url, parts)
        _make_private(partial)
        try:
            contents = archive_contents(partial)
        except BackupFailed:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        manifest = new_manifest(
            environment=env.name,
            identity=identity,
            checksum=checksum,
            host=f"{parts['host']}:{parts['port']}",
            entries=contents.entries,
            tables=contents.tables,
            size_bytes=_size(partial),
            pg_dump_version=client_version,
            timescaledb=contents.timescaledb,
        )
        write_manifest(partial, manifest)
        partial.rename(final)  # only a verified, labelled backup ever carries the final name
    return BackupResult(
        path=final,
        environment=env.name,
        size_bytes=_size(final),
        seconds=time.monotonic() - started,
        entries=contents.entries,
        timescaledb=contents.timescaledb,
        warnings=warnings,
        manifest=manifest,
        stale_removed=stale,
        restores_removed=restores_removed,
    )


def is_backup_of(name: str, env_name: str) -> bool:
    """True when `name` is a finished backup's name and the environment it names is `env_name`."""
    found = _NAME.match(name)
    return bool(found) and found["env"] == env_name  # type: ignore[index]


def verify_backup(path: Path) -> int:
    """Read the archive's table of contents with pg_restore --list; the entry count, or BackupFailed."""
    return list_archive(Path(path))[0]


def prune_backups(
    env: Environment, latest: BackupManifest, *, backup_dir: Path | None = None, keep: int | None = None
) -> list[Path]:
    """Delete all but the newest `keep` (env.keep_backups) backups of `latest`'s database; the deleted paths.

    A database is its identity (environment, server system identifier, database name): two databases
    deployed under one environment name each keep their own newest backups, so a restore command a
    run printed stays valid until that database's own retention removes it. A backup whose manifest
    is missing or unreadable cannot be shown to be of the same database, so it is never pruned.
    """
    keep = env.keep_backups if keep is None else keep
    directory = backup_dir or env.backup_dir
    if not directory.is_dir():
        return []
    mine = sorted(
        p for p in directory.iterdir() if is_backup_of(p.name, env.name) and _same_database(p, latest)
    )
    doomed = mine[: max(len(mine) - keep, 0)]
    for path in doomed:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return doomed


def _same_database(backup: Path, latest: BackupManifest) -> bool:
    try:
        manifest = read_manifest(backup)
    except CheckFailed:
        return False
    return manifest is not None and (
        manifest.environment,
        manifest.system_identifier,
        manifest.database,
    ) == (latest.environment, latest.system_identifier, latest.database)


def restore_command(env: Environment, path: Path, url: str | None = None) -> str:
    """The one command a person runs to restore `path` into `env`'s database (password masked)."""
    target = f" --database-url '{mask_url(url)}'" if url else ""
    return f"schemaflow restore --env {env.name} --backup {path}{target} --yes"


def _check_server(url: str, env: Environment, parts: dict[str, str]) -> tuple[ServerIdentity, str, str]:
    """Connect first: a clear ConnectionFailed within the timeout, and a clear version mismatch.

    Returns what the manifest records: the database and server, the schema's checksum, pg_dump's version.
    """
    version = subprocess.run([pg_binary("pg_dump"), "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"\)\s+(\d+)", version.stdout)  # "pg_dump (PostgreSQL) 15.20 (Debian ...)"
    with connect(url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        server_major = conn.info.server_version // 10000
        client_major = int(found.group(1)) if found else server_major
        if server_major > client_major:
            raise BackupFailed(
                f"pg_dump {client_major} cannot dump the PostgreSQL {server_major} server at "
                f"{parts['host']}:{parts['port']} (pg_dump must be at least the server's version)",
                hint=f"install postgresql-client-{server_major}; set SCHEMAFLOW_PG_BIN to its bin directory",
            )
        identity = ServerIdentity(parts["database"], read_system_identifier(conn))
        checksum = schema_checksum(conn, env.target_schema)
    return identity, checksum, version.stdout.strip()


def list_archive(path: Path) -> tuple[int, bool]:
    """(entries, TimescaleDB or not) of a readable archive; BackupFailed otherwise."""
    contents = archive_contents(path)
    return contents.entries, contents.timescaledb


def archive_contents(path: Path) -> ArchiveContents:
    """Read the archive's table of contents with pg_restore --list; BackupFailed when it is unreadable."""
    if not path.exists():
        raise BackupFailed(
            f"backup {path} does not exist", hint="list the backup directory for the right name"
        )
    result = subprocess.run(
        [pg_binary("pg_restore"), "--list", str(path)], capture_output=True, text=True, check=False
    )
    entries = [line for line in result.stdout.splitlines() if line and not line.startswith(";")]
    # An empty database dumps to an archive with no entries; the header is what proves it readable.
    if result.returncode != 0 or "; Archive created at" not in result.stdout:
        detail = (result.stderr.strip().splitlines() or ["no archive header"])[-1]
        raise BackupFailed(
            f"backup {path} is not a readable pg_dump archive: {detail}",
            hint="take a new backup; do not migrate without one",
        )
    timescaledb = any(" EXTENSION - timescaledb" in line for line in entries)
    # "215; 1259 17100 TABLE public tenants postgres"; "TABLE DATA" lines are the rows, not tables.
    tables = sum(1 for line in entries if (w := line.split())[3:4] == ["TABLE"] and w[4:5] != ["DATA"])
    dbname = next(
        (
            line.split(":", 1)[1].strip()
            for line in result.stdout.splitlines()
            if line.startswith(";     dbname:")
        ),
        None,
    )
    return ArchiveContents(len(entries), tables, timescaledb, dbname)


def run_pg_tool(tool: str, args: list[str], url: str, connect_timeout: int) -> subprocess.CompletedProcess:
    """Run pg_dump/pg_restore `args` against `url`: password in its environment, dying with us."""
    return processes.run_pg_tool(pg_binary(tool), args, url, connect_timeout)


def default_jobs() -> int:
    """One pg_dump/pg_restore job per core, at most MAX_JOBS (each job is a server connection)."""
    return min(MAX_JOBS, os.cpu_count() or 1)


def _dump_error(stderr: str, url: str, parts: dict[str, str]) -> BackupFailed:
    detail = first_error(stderr, url)
    if _VERSION_MISMATCH in stderr:
        return BackupFailed(
            f"pg_dump at {PG_BIN} is older than the server at {parts['host']}:{parts['port']}: {detail}",
            hint="install the client tools of the server's major version (e.g. postgresql-client-17) and set "
            "SCHEMAFLOW_PG_BIN to their bin directory",
        )
    if "password authentication failed" in stderr:
        return BackupFailed(
            f"pg_dump could not log in as {parts['user'] or '(default)'!r}: {detail}",
            hint="check the password in the database URL",
        )
    return BackupFailed(
        f"pg_dump of {parts['host']}:{parts['port']}/{parts['database']} failed: {detail}",
        hint="no backup was written; fix the cause and run again (the migration did not start)",
    )


def first_error(stderr: str, url: str) -> str:
    """The first error line of a pg_dump/pg_restore stderr, with the URL's password masked."""
    password = libpq_subprocess_args(url)[1].get("PGPASSWORD")
    lines = [ln for ln in stderr.splitlines() if "error" in ln.lower() or "fatal" in ln.lower()]
    text = (lines or stderr.strip().splitlines() or ["no error output"])[0]
    return mask_secret(
        text.replace("pg_dump: error: ", "").replace("pg_restore: error: ", ""), str(password or "")
    )


def _visible_warnings(stderr: str) -> list[str]:
    """pg_dump's stderr without the harmless circular-FK warnings about TimescaleDB's catalog."""
    shown: list[str] = []
    skipping = False
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if "circular foreign-key constraints" in line:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            skipping = nxt.split("detail:")[-1].strip() in _TIMESCALE_CATALOG_TABLES
        elif not (line.startswith("pg_dump: detail:") or line.startswith("pg_dump: hint:")):
            skipping = False
        if not skipping and line.strip():
            shown.append(mask_url(line))
    return shown


def pg_binary(name: str) -> str:
    """SCHEMAFLOW_PG_BIN's `name` (the client matching the servers we test), else the one on PATH."""
    path = PG_BIN / name
    if not path.exists():
        found = shutil.which(name)
        if not found:
            raise BackupFailed(
                f"{name} is not installed (looked in {PG_BIN} and PATH)",
                hint="install postgresql-client-15 or set SCHEMAFLOW_PG_BIN",
            )
        return found
    return str(path)


def _private_dir(path: Path) -> list[str]:
    """Create `path` as 0700, or use it as it is; a warning when others can list it.

    An existing directory is never chmodded: backup_dir may be configured as /tmp or a home
    directory, and locking those down would break other programs. The backups inside are 0700/0600
    either way, so others see only their names.
    """
    try:
        path.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        pass  # someone's directory (or a concurrent run's): checked below, not changed
    else:
        path.chmod(0o700)  # mkdir's mode is filtered through the umask
        return []
    if not path.is_dir():
        raise BackupFailed(
            f"backup directory {path} is not a directory", hint="set backup_dir to a directory path"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return [
            f"backup directory {path} is open to other users (mode {mode:o}): they can see the backups' "
            f"names, not their contents; chmod 700 {path} or choose a private backup_dir"
        ]
    return []


def _make_private(path: Path) -> None:
    path.chmod(0o700 if path.is_dir() else 0o600)
    if path.is_dir():
        for child in path.rglob("*"):
            child.chmod(0o700 if child.is_dir() else 0o600)


def _size(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if path.is_dir()
        else path.stat().st_size
    )
