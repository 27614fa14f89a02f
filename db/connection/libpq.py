"""What libpq will actually use for a connection string: its own parse, then the service file, then PG*.

libpq fills every parameter the string leaves out from the service file (`service=` in the string, or
PGSERVICE) and then from its environment variables (PGHOST, PGHOSTADDR, PGSSLMODE, ...). A check that
reads only the URL's host misses `?host=`, `?hostaddr=`, a second host in `h1,h2`, a service entry, or
a PGHOSTADDR in the shell: this module applies libpq's order so the TLS rule sees what libpq will.
Nothing here connects or resolves a name.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from psycopg import pq

from db.errors import ConfigError

# Debian's libpq (pg_dump, psql) looks here when PGSYSCONFDIR is unset; psycopg's bundled libpq has
# its own compiled-in directory, which holds no service file.
SYSTEM_SERVICE_DIRS = (Path("/etc/postgresql-common"), Path("/etc/postgresql"))


@functools.cache
def libpq_env_vars() -> dict[str, str]:
    """keyword -> environment variable, as this libpq defines them (PQconndefaults)."""
    names = {}
    for option in pq.Conninfo.get_defaults():
        if option.envvar:
            names[option.keyword.decode()] = option.envvar.decode()
    names.setdefault("requiressl", "PGREQUIRESSL")  # gone from libpq 18, still read by older ones
    return names


def effective_params(params: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`params` (parsed from a connection string) completed as libpq completes them before connecting.

    Order, as in libpq's conninfo_add_defaults: what the string says, then the service entry, then
    the PG* variables. A named service that no service file defines is a ConfigError (libpq refuses too).
    """
    environ = os.environ if environ is None else environ
    merged = {k: v for k, v in params.items() if v != ""}
    service = merged.get("service") or environ.get("PGSERVICE", "").strip()
    if service:
        for key, value in read_service(service, environ).items():
            merged.setdefault(key, value)
    for key, var in libpq_env_vars().items():
        value = environ.get(var, "")
        if key not in merged and value != "":
            merged[key] = value
    return merged


def service_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The service files libpq reads, in its order: the user's (PGSERVICEFILE), then the system one."""
    environ = os.environ if environ is None else environ
    user = environ.get("PGSERVICEFILE", "").strip()
    files = [Path(user).expanduser() if user else Path("~/.pg_service.conf").expanduser()]
    sysconf = environ.get("PGSYSCONFDIR", "").strip()
    dirs = [Path(sysconf)] if sysconf else list(SYSTEM_SERVICE_DIRS)
    return files + [d / "pg_service.conf" for d in dirs]


def read_service(name: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parameters of service `name` from the first service file that defines it."""
    files = service_files(environ)
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise ConfigError(f"cannot read service file {path}: {exc.strerror}") from None
        found = parse_service_file(text, name, path)
        if found is not None:
            return found
    raise ConfigError(
        f'definition of service "{name}" not found (looked in {", ".join(str(p) for p in files)})',
        hint=f"add a [{name}] section to ~/.pg_service.conf, or point PGSERVICEFILE at the file that has it",
    )


def parse_service_file(text: str, name: str, path: Path) -> dict[str, str] | None:
    """The `[name]` section of a pg_service.conf as a dict, or None when the file has no such section."""
    section: dict[str, str] | None = None
    in_group = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if in_group:
                break
            in_group = line == f"[{name}]"
            if in_group:
                section = {}
            continue
        if not in_group or section is None:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"syntax error in service file {path}, line {number}", hint="write key=value")
        if key.strip() == "service":
            raise ConfigError(f"nested service specifications not supported in service file {path}")
        section[key.strip()] = value.strip()
    return section


def host_entries(params: Mapping[str, str]) -> list[str]:
    """Every place libpq may connect to: each entry of `host` and of `hostaddr` ('' = default socket)."""
    hosts = params.get("host", "").split(",")
    addrs = [a for a in params.get("hostaddr", "").split(",") if a] if params.get("hostaddr") else []
    return hosts + addrs
