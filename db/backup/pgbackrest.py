"""The `backup = "pgbackrest"` strategy: restore points instead of copies, restored with real pgBackRest.

With WAL archived continuously to a pgBackRest repository, the safe point before a change is a named
restore point (`pg_create_restore_point`), which costs one WAL record whatever the database's size;
a pg_dump copy grows with the data (an hour per TB). TimescaleDB's documentation for self-hosted
servers recommends pgBackRest and point-in-time recovery for the same reason.

- Preflight (db/run/preflight.py) runs `pgbackrest check` (archiving works end to end) and wants
  a full or differential backup newer than the environment's `max_backup_age`: a restore point is
  only reachable by replaying WAL from a backup taken before it.
- restore_point_name() / create_restore_point(): `schemaflow-<env>-<run id>`, then pg_switch_wal()
  so the segment that holds it is archived now rather than when it fills.
- restore_to_point(): `pgbackrest restore --type=name --target=NAME` into a new, empty data
  directory with archiving off (a copy must never push WAL into the original's repository), started
  on another port and promoted once the point is reached. The original is not touched.

pgBackRest runs as the server's OS user (it reads the data directory and shares the repository with
archive_command); schemaflow, when run as root, switches to it as db/local/cluster.py does.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from db.backup.processes import run_tied_to_parent
from db.connection.environments import Environment
from db.errors import BackupFailed, CheckFailed, ConfigError
from db.local.cluster import PG_BIN, LocalCluster, as_server_user, chown_to_server_user

PGBACKREST = "pgbackrest"
RESTORE_POINT_PREFIX = "schemaflow"
MAX_RESTORE_POINT = 63  # PostgreSQL's limit on a restore point's name (MAXFNAMELEN - 1)
CREATE_RESTORE_POINT_SQL = "SELECT pg_create_restore_point(%s)::text"
SWITCH_WAL_SQL = "SELECT pg_switch_wal()::text"
RECOVERY_DONE_SQL = "SELECT NOT pg_is_in_recovery()"
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+)\s*(us|ms|s|min|h|d)?$")


@dataclass(frozen=True)
class RepoBackup:
    """One backup in the repository, as `pgbackrest info` lists it."""

    label: str
    type: str  # full, diff or incr
    stopped_at: datetime


@dataclass(frozen=True)
class RestorePoint:
    name: str
    lsn: str
    created_at: datetime
    archived: bool  # pg_switch_wal() was allowed, so the point's WAL is on its way to the repository


@dataclass(frozen=True)
class PointRestore:
    """A restore point brought back beside the original: its data directory, port and URL."""

    name: str
    datadir: Path
    port: int
    url: str = field(repr=False)  # carries the password
    seconds: float = 0.0


@dataclass(frozen=True)
class PgBackRest:
    """pgBackRest for one stanza, with an optional configuration file."""

    stanza: str
    config: str = ""

    @classmethod
    def for_environment(cls, env: Environment) -> PgBackRest:
        if env.backup != "pgbackrest":
            raise ConfigError(
                f"environment {env.name!r} uses backup = {env.backup!r}, not pgbackrest",
                hint=f'set backup = "pgbackrest" and pgbackrest_stanza under [environments.{env.name}]',
            )
        return cls(env.pgbackrest_stanza or env.name, env.pgbackrest_config)

    def archive_command(self) -> str:
        """PostgreSQL's archive_command pushing each WAL segment into this stanza's repository."""
        return " ".join(shlex.quote(part) for part in self.command("archive-push")) + " %p"

    def command(self, action: str, *options: str) -> list[str]:
        config = [f"--config={self.config}"] if self.config else []
        return [PGBACKREST, *config, f"--stanza={self.stanza}", *options, action]

    def run(self, action: str, *options: str, what: str) -> str:
        """Run one pgBackRest command as the server's OS user; its stdout, or BackupFailed."""
        try:
            result = run_tied_to_parent(as_server_user(self.command(action, *options)))
        except FileNotFoundError:
            raise BackupFailed(
                "pgbackrest is not installed", hint="run scripts/setup-system.sh (Debian package pgbackrest)"
            ) from None
        if result.returncode != 0:
            raise BackupFailed(
                f"{what} failed for stanza {self.stanza!r}: {_error_line(result.stderr or result.stdout)}",
                hint=f"run `{' '.join(self.command(action, *options))}` on the database host to see why",
            )
        return result.stdout

    def stanza_create(self) -> None:
        self.run("stanza-create", what="pgbackrest stanza-create")

    def check(self) -> None:
        """`pgbackrest check`: the server archives a WAL segment into the repository (CheckFailed if not)."""
        try:
            self.run("check", what="pgbackrest check")
        except BackupFailed as exc:
            raise CheckFailed(
                f"WAL archiving to pgBackRest does not work: {exc.message}", hint=exc.hint
            ) from None

    def backup(self, kind: str = "full") -> RepoBackup:
        self.run("backup", f"--type={kind}", what=f"pgbackrest backup --type={kind}")
        latest = self.latest_backup(("full", "diff", "incr"))
        assert latest is not None  # it just finished
        return latest

    def latest_backup(self, kinds: tuple[str, ...] = ("full", "diff")) -> RepoBackup | None:
        """The newest backup of one of `kinds`, None when the repository has none."""
        info = json.loads(self.run("info", "--output=json", what="pgbackrest info") or "[]")
        backups = [
            RepoBackup(b["label"], b["type"], datetime.fromtimestamp(b["timestamp"]["stop"], UTC))
            for stanza in info
            if stanza.get("name") == self.stanza
            for b in stanza.get("backup", [])
            if b["type"] in kinds
        ]
        return max(backups, key=lambda b: b.stopped_at, default=None)

    def require_recent_backup(self, max_age: str) -> RepoBackup:
        """The newest full/diff backup, or CheckFailed when there is none within `max_age`."""
        latest = self.latest_backup()
        limit = duration_seconds(max_age)
        run_backup = " ".join(self.command("backup", "--type=full"))
        if latest is None:
            raise CheckFailed(
                f"stanza {self.stanza!r} has no full or differential backup to replay a restore point from",
                hint=f"take one: {run_backup}",
            )
        age = (datetime.now(UTC) - latest.stopped_at).total_seconds()
        if age > limit:
            raise CheckFailed(
                f"the newest full/diff backup of stanza {self.stanza!r} ({latest.label}) is "
                f"{age / 3600:.1f} h old, more than max_backup_age = {max_age}",
                hint=f"take a new one ({run_backup}), or raise max_backup_age",
            )
        return latest

    def data_directory(self) -> Path:
        """The stanza's pg1-path, read from its configuration file."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.config or "/etc/pgbackrest/pgbackrest.conf")
        path = parser.get(self.stanza, "pg1-path", fallback="")
        if not path:
            raise ConfigError(
                f"pgBackRest's config {self.config or '(default)'} has no pg1-path for {self.stanza!r}",
                hint="restore in place on the database host, where the stanza names its data directory",
            )
        return Path(path)

    def restore_in_place(self, name: str, datadir: Path) -> None:
        """Rewrite the stopped server's own `datadir` (--delta: changed files only) up to point `name`."""
        self.run(
            "restore",
            "--delta",
            "--type=name",
            f"--target={name}",
            "--target-action=promote",
            what=f"pgbackrest restore --delta to {name!r}",
        )

    def restore_to_point(self, name: str, datadir: Path) -> None:
        """Restore the repository into the new, empty `datadir`, to recover up to restore point `name`."""
        if datadir.exists() and any(datadir.iterdir()):
            raise ConfigError(
                f"{datadir} is not empty; the restore writes a whole new data directory there",
                hint="pass --into with a new directory",
            )
        datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
        datadir.chmod(0o700)
        chown_to_server_user(datadir)
        self.run(
            "restore",
            f"--pg1-path={datadir}",
            "--type=name",
            f"--target={name}",
            "--target-action=promote",
            "--archive-mode=off",
            what=f"pgbackrest restore to {name!r}",
        )


def configure_local_repository(root: Path, datadir: Path, port: int, stanza: str) -> PgBackRest:
    """A pgBackRest configuration and repository under `root` for the local cluster at `datadir`.

    The cluster listens on its own socket directory (its data directory, db/local/cluster.py), which
    is how pgBackRest reaches it; logs and locks stay under `root` so that two such setups (two test
    runs) never share a lock.
    """
    for sub_dir in ("", "repo", "lock"):
        path = root / sub_dir
        path.mkdir(parents=True, exist_ok=True, mode=0o750)
        chown_to_server_user(path)
    config = root / "pgbackrest.conf"
    config.write_text(
        "# Written by schemaflow (db/backup/pgbackrest.py).\n"
        "[global]\n"
        f"repo1-path={root / 'repo'}\n"
        "repo1-retention-full=2\n"
        f"lock-path={root / 'lock'}\n"
        "log-level-file=off\n"
        "log-level-console=warn\n"
        "compress-type=lz4\n"
        "start-fast=y\n"
        f"\n[{stanza}]\n"
        f"pg1-path={datadir}\n"
        f"pg1-port={port}\n"
        f"pg1-socket-path={datadir}\n"
        "pg1-user=postgres\n"
    )
    chown_to_server_user(config)
    return PgBackRest(stanza, str(config))


def restore_point_name(env_name: str, run_id: str | None = None) -> str:
    """`schemaflow-<env>-<run id>` (the run id shortened if the whole would pass PostgreSQL's limit)."""
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{RESTORE_POINT_PREFIX}-{env_name}-{run_id}"
    if len(name) > MAX_RESTORE_POINT:
        name = f"{RESTORE_POINT_PREFIX}-{env_name[:24]}-{run_id.replace('-', '')[:24]}"
    return name


def create_restore_point(conn: psycopg.Connection, name: str) -> RestorePoint:
    """pg_create_restore_point(name), then switch WAL so the point reaches the repository promptly."""
    try:
        row = conn.execute(CREATE_RESTORE_POINT_SQL, (name,)).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        raise CheckFailed(
            "this role may not create restore points",
            hint="run as a superuser, or GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO it",
        ) from None
    archived = True
    try:
        conn.execute(SWITCH_WAL_SQL)
    except psycopg.errors.InsufficientPrivilege:
        archived = False  # reaches the repository when the segment fills or archive_timeout passes
    return RestorePoint(name, str(row[0]) if row else "", datetime.now(UTC), archived)


def take_restore_point(url: str, env: Environment, run_id: str | None = None) -> RestorePoint:
    """The backup step of a `backup = "pgbackrest"` environment: a named restore point before apply."""
    from db.connection.connect import connect

    PgBackRest.for_environment(env)  # refuses an environment with another strategy
    with connect(url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        return create_restore_point(conn, restore_point_name(env.name, run_id))


def point_restore_command(env: Environment, name: str) -> str:
    """The one command a person runs to bring the database back as it was at restore point `name`."""
    return f"schemaflow restore --env {env.name} --restore-point {name} --port PORT --into NEW_DATA_DIR"


def restore_point_beside(
    env: Environment, url: str, name: str, *, into: Path | None = None, port: int | None = None
) -> PointRestore:
    """Restore `env` to restore point `name` into a new data directory, started on another port.

    The original server is not touched. `url` (the environment's) gives the database and the
    credentials, which the restored copy shares; it listens on 127.0.0.1:`port`.
    """
    from db.local.cluster import free_port

    repo = PgBackRest.for_environment(env)
    started = time.monotonic()
    datadir = Path(into or env.backup_dir / f"{name}.pgdata").expanduser().resolve()
    port = port or free_port()
    repo.restore_to_point(name, datadir)
    start_restored(datadir, port)
    restored_url = _on_local_port(url, port)
    wait_until_promoted(restored_url)
    return PointRestore(name, datadir, port, restored_url, time.monotonic() - started)


def restore_point_in_place(env: Environment, url: str, name: str) -> PointRestore:
    """Stop the environment's server, restore its own data directory to point `name`, start it again.

    Runs on the database host (the stanza's pg1-path must be local and managed with pg_ctl). The
    server is down from the stop until recovery has promoted; if the restore fails it stays down,
    and running the same command again resumes from what is there (--delta).
    """
    repo = PgBackRest.for_environment(env)
    datadir = repo.data_directory()
    started = time.monotonic()
    _pg_ctl("stop", datadir, "-m", "fast")
    try:
        repo.restore_in_place(name, datadir)
    except BackupFailed as exc:
        raise BackupFailed(
            f"{exc.message}; the server at {datadir} is stopped",
            hint="fix the cause and run the same restore again, or restore --into a new directory "
            f"and start the original with: pg_ctl start -D {datadir}",
        ) from None
    # The socket lock file of the stopped server came back from the backup when the server keeps its
    # socket in its data directory (as the local cluster does); a stale one would stop it starting.
    for stale in datadir.glob(".s.PGSQL.*.lock"):
        stale.unlink(missing_ok=True)
    _pg_ctl("start", datadir, "-l", str(datadir / "server.log"))
    wait_until_promoted(url)
    port = urlsplit(url).port or 5432
    return PointRestore(name, datadir, port, url, time.monotonic() - started)


def _pg_ctl(action: str, datadir: Path, *options: str) -> None:
    result = run_tied_to_parent(
        as_server_user([str(PG_BIN / "pg_ctl"), action, "-D", str(datadir), "-w", "-t", "300", *options])
    )
    if result.returncode != 0:
        raise BackupFailed(
            f"pg_ctl {action} of {datadir} failed: {_error_line(result.stderr or result.stdout)}",
            hint=f"see {datadir / 'server.log'}",
        )


def _on_local_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc, query=""))


def start_restored(
    datadir: Path, port: int, *, preload_timescaledb: bool = True, timeout: float = 300
) -> LocalCluster:
    """Start the restored data directory on `port` and wait until recovery reached the point and promoted."""
    cluster = LocalCluster(datadir=datadir, port=port, preload_timescaledb=preload_timescaledb)
    cluster.start(timeout=int(timeout))
    return cluster


def wait_until_promoted(url: str, timeout: float = 300) -> None:
    """Block until the server at `url` has finished recovery; BackupFailed after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
                row = conn.execute(RECOVERY_DONE_SQL).fetchone()
                if row and row[0]:
                    return
        except psycopg.OperationalError:
            pass  # still starting
        if time.monotonic() > deadline:
            raise BackupFailed(
                f"the restored server did not finish recovery within {timeout:.0f} s",
                hint="see its server.log; the restore point may not be in the archived WAL yet",
            )
        time.sleep(0.5)


def duration_seconds(text: str) -> float:
    found = _DURATION.match(text.strip())
    if not found:
        raise ConfigError(f"{text!r} is not a duration", hint="write e.g. '12h' or '7d'")
    return int(found.group(1)) * _UNITS[found.group(2) or "s"]


def _error_line(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if "ERROR" in ln or "error" in ln]
    return (lines or [ln.strip() for ln in output.splitlines() if ln.strip()] or ["no output"])[0]
