"""Where an environment's connection string comes from; fail closed when the configured source is missing.

Order: an explicit --database-url (always wins); then, for an environment with `secret_block`, that
Prefect Secret block and nothing else: when the block is missing, empty, or no Prefect server answers,
resolution stops with that reason, because falling back to a DATABASE_URL left in a worker's shell is
how a "staging" run migrated some other database. Only environments without a secret block read
variables: the environment's URL variable (e.g. DATABASE_URL), POSTGRES_HOST/PORT/USER/PASSWORD/DATABASE,
then libpq's PG* variables (password from PGPASSWORD or ~/.pgpass, read by libpq itself). A `local`
environment skips every variable and uses the embedded cluster. db/ must not import Prefect, so the
caller passes the `secret_loader`. This module only finds the string: db/connection/target.py parses it,
applies the TLS rule and builds the Target (it imports this module, never the other way round).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from db.connection.environments import PROJECT_ROOT, Environment
from db.connection.sources import LOCAL_SOURCE
from db.connection.urls import mask_url
from db.errors import ConfigError

# Returns the block's value (None or "" when the block is empty); raises SecretUnavailable with the
# real reason (server unreachable, block not found) otherwise.
SecretLoader = Callable[[str], "str | None"]


class SecretUnavailable(ConfigError):
    """A Secret block could not be read: the message says why (no server, unreachable, not found)."""


class SecretMissing(SecretUnavailable):
    """The server answered and has no such block, or it is empty: the environment is not set up yet."""


@dataclass(frozen=True)
class FoundUrl:
    """A connection string and where it came from (not yet parsed); repr never shows it."""

    url: str = field(repr=False)
    source: str
    skipped: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"FoundUrl(url={mask_url(self.url)!r}, source={self.source!r})"


def find_database_url(
    env: Environment,
    explicit_url: str | None = None,
    secret_loader: SecretLoader | None = None,
    environ: Mapping[str, str] | None = None,
) -> FoundUrl:
    """The first configured source that answers; ConfigError saying what was tried, or why it stopped."""
    environ = os.environ if environ is None else environ
    if explicit_url and explicit_url.strip():
        return FoundUrl(explicit_url.strip(), "--database-url")
    skipped = ["--database-url not given"]
    if env.local:
        return FoundUrl(_local_cluster_url(), LOCAL_SOURCE, tuple(skipped))
    if env.secret_block:
        return FoundUrl(
            _from_secret(env, secret_loader), f"secret block {env.secret_block!r}", tuple(skipped)
        )
    finders: list[tuple[str, Callable[[list[str]], str | None]]] = []
    for name in dict.fromkeys(n for n in (env.database_url_env, "DATABASE_URL") if n):
        finders.append((name, lambda s, name=name: _from_var(name, environ, s)))  # type: ignore[misc]
    finders.append(("POSTGRES_* variables", lambda s: _from_postgres_vars(environ, s)))
    finders.append(("libpq PG* variables", lambda s: _from_libpq_vars(environ, s)))
    for source, finder in finders:
        url = finder(skipped)
        if url:
            return FoundUrl(url.strip(), source, tuple(skipped))
    raise ConfigError(
        f"no database URL for environment {env.name!r}: " + "; ".join(skipped),
        hint=_hint(env),
    )


def _from_secret(env: Environment, loader: SecretLoader | None) -> str:
    name = env.secret_block or ""
    fix = f"schemaflow secrets set {env.name}"
    where = f"environment {env.name!r} takes its database URL from Secret block {name!r}"
    if loader is None:
        raise ConfigError(
            f"{where}, and nothing here can read Prefect blocks; nothing was touched",
            hint=f"pass --database-url explicitly, or run where the Prefect server is reachable ({fix})",
        )
    try:
        value = loader(name)
    except SecretUnavailable as exc:
        raise type(exc)(
            f"{where}: {exc.message}; nothing was touched (DATABASE_URL is never used instead)",
            hint=exc.hint or fix,
        ) from None
    if not value or not str(value).strip():
        raise SecretMissing(
            f"{where}: the block is empty; nothing was touched",
            hint=f"store the URL with: {fix} --overwrite",
        )
    return str(value)


def _from_var(name: str, environ: Mapping[str, str], skipped: list[str]) -> str | None:
    value = environ.get(name, "").strip()
    if not value:
        skipped.append(f"{name} unset")
    return value or None


def _from_postgres_vars(environ: Mapping[str, str], skipped: list[str]) -> str | None:
    url = url_from_postgres_vars(environ)
    if not url:
        skipped.append("POSTGRES_HOST unset")
    return url


def url_from_postgres_vars(environ: Mapping[str, str]) -> str | None:
    """postgresql:// URL from POSTGRES_HOST/PORT/USER/PASSWORD/DATABASE (or _DB), or None without a host."""
    host = environ.get("POSTGRES_HOST", "").strip()
    if not host:
        return None
    user = environ.get("POSTGRES_USER", "postgres")
    password = environ.get("POSTGRES_PASSWORD", "")
    database = environ.get("POSTGRES_DATABASE") or environ.get("POSTGRES_DB") or ""
    port = environ.get("POSTGRES_PORT", "5432")
    sslmode = environ.get("POSTGRES_SSLMODE", "")
    # quote() every part: a password with @, / or : would otherwise change where we connect.
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    query = f"?sslmode={quote(sslmode, safe='')}" if sslmode else ""
    return f"postgresql://{auth}@{_host_part(host)}:{port}/{quote(database, safe='')}{query}"


def _from_libpq_vars(environ: Mapping[str, str], skipped: list[str]) -> str | None:
    host = environ.get("PGHOST", "").strip()
    service = environ.get("PGSERVICE", "").strip()
    if not host and service:
        return f"service={service}"  # libpq reads the rest from the service file and PG* itself
    if not host:
        skipped.append("PGHOST and PGSERVICE unset")
        return None
    user = environ.get("PGUSER", "")
    database = environ.get("PGDATABASE", "") or user
    port = environ.get("PGPORT", "5432")
    params = {"sslmode": environ.get("PGSSLMODE", "")}
    # No password in the URL: libpq reads PGPASSWORD or ~/.pgpass itself when it connects.
    auth = quote(user, safe="") + "@" if user else ""
    if host.startswith("/"):  # a Unix socket directory goes in the query string
        base = f"postgresql://{auth}/{quote(database, safe='')}"
        params.update(host=host, port=port)
    else:
        base = f"postgresql://{auth}{_host_part(host)}:{port}/{quote(database, safe='')}"
    query = "&".join(f"{k}={quote(v, safe='/')}" for k, v in params.items() if v)
    return base + (f"?{query}" if query else "")


def _host_part(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _local_cluster_url() -> str:
    from db.local.project import project_cluster

    return project_cluster(PROJECT_ROOT).url()


def _hint(env: Environment) -> str:
    var = env.database_url_env or "DATABASE_URL"
    return (
        f"pass --database-url, or set {var} (postgresql://USER:PASSWORD@HOST:PORT/DATABASE, a keyword "
        "string, or service=NAME), or give the environment a secret_block"
    )
