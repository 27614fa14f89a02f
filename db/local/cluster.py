"""The embedded PostgreSQL 15 cluster: initialise, start, stop and describe a project-owned server.

Used by `schemaflow local-db`, by `make run` and by the test fixtures. When run as root the server
runs as the `postgres` OS user, because initdb and postgres refuse to run as root.

With `archive_command` set the server archives its WAL (db/backup/pgbackrest.py builds the command
that pushes it to a local pgBackRest repository; db/local/project.py sets it for the project's own
cluster), so restore points and point-in-time restores work on one machine.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from db.errors import LocalClusterError

PG_BIN = Path(os.environ.get("SCHEMAFLOW_PG_BIN", "/usr/lib/postgresql/15/bin"))
DEFAULT_PORT = 55432
SUPERUSER = "postgres"
SERVER_OS_USER = "postgres"
_CONF_NAME = "schemaflow.conf"


@dataclass(frozen=True)
class LocalCluster:
    """A PostgreSQL data directory owned by schemaflow, reachable on 127.0.0.1:`port`."""

    datadir: Path
    port: int = DEFAULT_PORT
    preload_timescaledb: bool = True
    database: str = "podcast_analytics"
    archive_command: str = ""  # empty: no WAL archiving
    bin_dir: Path = PG_BIN  # another major's server binaries (the tests' PostgreSQL 16-18 lanes)

    @property
    def logfile(self) -> Path:
        return self.datadir / "server.log"

    @property
    def password_file(self) -> Path:
        # Beside the data directory, readable by the invoking user only.
        return self.datadir.parent / f"{self.datadir.name}.password"

    def url(self, database: str | None = None) -> str:
        """The connection URL (with the generated password: this is the user's own local server)."""
        password = self.password_file.read_text().strip() if self.password_file.exists() else ""
        auth = f"{SUPERUSER}:{password}@" if password else f"{SUPERUSER}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{database or self.database}"

    def is_initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> bool:
        """Create the data directory with initdb; return False when it already existed."""
        _require_binaries(self.bin_dir)
        if self.is_initialised():
            self._write_conf()
            return False
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.datadir.chmod(0o700)
        _let_server_user_through(self.datadir.parent)
        password = secrets.token_urlsafe(18)
        # Created 0600 from the start: write-then-chmod would leave it readable for a moment.
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        _chown_to_server_user(self.datadir)
        # initdb reads the password from a file: a private temp file, gone right after.
        fd, pwfile = tempfile.mkstemp(prefix="schemaflow-initdb-")
        try:
            os.write(fd, (password + "\n").encode())
            os.close(fd)
            _chown_to_server_user(Path(pwfile))
            _run_as_server(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    SUPERUSER,
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                ],
                what="initdb",
            )
        finally:
            Path(pwfile).unlink(missing_ok=True)
        self._write_conf()
        return True

    def _write_conf(self) -> None:
        preload = "timescaledb" if self.preload_timescaledb else ""
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.datadir}'",
            "shared_preload_libraries": f"'{preload}'",
            "timescaledb.telemetry_level": "off",
            "max_connections": "100",
            "fsync": "on",
            "log_min_messages": "warning",
        }
        if self.archive_command:
            escaped = self.archive_command.replace("'", "''")
            settings.update({"wal_level": "replica", "archive_mode": "on", "archive_command": f"'{escaped}'"})
        body = "".join(f"{key} = {value}\n" for key, value in settings.items())
        conf = self.datadir / _CONF_NAME
        conf.write_text("# Written by schemaflow; edit db/local/cluster.py instead.\n" + body)
        _chown_to_server_user(conf)
        main_conf = self.datadir / "postgresql.conf"
        include = f"include_if_exists = '{_CONF_NAME}'\n"
        # A data directory restored from a server whose configuration lives elsewhere (Debian keeps it
        # in /etc/postgresql) has none: PostgreSQL's defaults plus ours are enough to start it.
        if not main_conf.exists():
            main_conf.write_text("")
            _chown_to_server_user(main_conf)
        if include not in main_conf.read_text():
            with main_conf.open("a") as fh:
                fh.write(include)

    def status(self) -> bool:
        """True when a server is running on this data directory."""
        if not self.is_initialised():
            return False
        cmd = [str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.datadir)]
        result = _run_as_server(cmd, what="pg_ctl status", check=False)
        return result.returncode == 0

    def start(self, timeout: int = 60) -> bool:
        """Initialise if needed and start; return False when it was already running."""
        self.init()
        if self.status():
            return False
        self._remove_stale_pidfile()
        if _port_in_use(self.port):
            raise LocalClusterError(
                f"port {self.port} on 127.0.0.1 is taken by another program",
                hint="stop it, or choose another port with SCHEMAFLOW_LOCAL_PORT",
            )
        result = _run_as_server(
            [
                str(self.bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                str(timeout),
            ],
            what="pg_ctl start",
            check=False,
        )
        if result.returncode != 0:
            tail = _tail(self.logfile)
            raise LocalClusterError(
                f"the local PostgreSQL server did not start:\n{tail}", hint=f"see {self.logfile}"
            )
        return True

    def ensure_database(self) -> bool:
        """Create the cluster's default database if missing; return True when it was created."""
        from psycopg import sql

        from db.connection.connect import connect

        with connect(self.url("postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone():
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
            return True

    def stop(self) -> bool:
        """Stop the server (fast shutdown); return False when it was not running."""
        if not self.status():
            return False
        pg_ctl = str(self.bin_dir / "pg_ctl")
        _run_as_server([pg_ctl, "stop", "-D", str(self.datadir), "-m", "fast", "-w"], what="pg_ctl stop")
        return True

    def restart(self) -> None:
        """Stop if running, rewrite the settings, and start again."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the server and delete its data directory and password file."""
        try:
            self.stop()
        except LocalClusterError:
            pid = self._pid()
            if pid:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.password_file.unlink(missing_ok=True)

    def _pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _remove_stale_pidfile(self) -> None:
        # A crash or a machine restart leaves postmaster.pid behind; if its process is gone,
        # the file is stale and would make postgres think another server owns the directory.
        pid = self._pid()
        if pid is None:
            return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            (self.datadir / "postmaster.pid").unlink(missing_ok=True)
        except PermissionError:
            pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _require_binaries(bin_dir: Path) -> None:
    if not (bin_dir / "initdb").exists():
        raise LocalClusterError(
            f"PostgreSQL is not installed ({bin_dir / 'initdb'} is missing)",
            hint="run scripts/setup-system.sh as root, or `make setup`",
        )


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        raise LocalClusterError(
            f"running as root but there is no {SERVER_OS_USER!r} OS user",
            hint="install postgresql-15 (scripts/setup-system.sh creates that user)",
        ) from None


def _let_server_user_through(folder: Path) -> None:
    """As root, make `folder` (.local/) traversable, x only, never readable, for the server's OS user.

    The CLI's umask makes .local/ 0700; the server, running as its own OS user, must still reach its
    data directory inside. Nobody can list the folder.
    """
    mode = folder.stat().st_mode
    if _server_user() is not None and not mode & stat.S_IXOTH:
        folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _chown_to_server_user(path: Path) -> None:
    user = _server_user()
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


chown_to_server_user = _chown_to_server_user


def as_server_user(cmd: list[str]) -> list[str]:
    """`cmd` as the server's OS user when we are root (as initdb and pg_ctl are run), else unchanged."""
    return ["runuser", "-u", SERVER_OS_USER, "--", *cmd] if _server_user() is not None else cmd


def _run_as_server(cmd: list[str], *, what: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = as_server_user(cmd)
    user = _server_user()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd="/", check=False)
    if check and result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        detail = message[-1] if message else f"exit code {result.returncode}"
        hint = None
        if "Permission denied" in detail and user is not None:
            hint = (
                f"the {SERVER_OS_USER} OS user cannot reach that folder; "
                "set SCHEMAFLOW_LOCAL_DIR to a folder it can write (e.g. /var/tmp/schemaflow)"
            )
        raise LocalClusterError(f"{what} failed: {detail}", hint=hint)
    return result


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def wait_until_ready(cluster: LocalCluster, timeout: float = 30) -> None:
    """Block until the server accepts TCP connections on its port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_in_use(cluster.port):
            return
        time.sleep(0.1)
    raise LocalClusterError(
        f"the local server on port {cluster.port} did not accept connections", hint=f"see {cluster.logfile}"
    )
