"""Where an environment's database URL comes from, checked before any connection is attempted.

Order (first match wins): an explicit --database-url; the environment's Prefect Secret block (loaded
by the caller's `secret_loader`, because db/ must not import Prefect); the environment's URL variable
(e.g. DATABASE_URL); POSTGRES_HOST/PORT/USER/PASSWORD/DATABASE; libpq's PG* variables, whose password
libpq itself finds in PGPASSWORD or ~/.pgpass. A `local` environment skips every variable and uses the
embedded cluster, so a stray DATABASE_URL cannot turn a local run into a deploy somewhere else.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from db.connection.environments import PROJECT_ROOT, Environment
from db.connection.urls import mask_url, require_tls_off_loopback, validate_url
from db.errors import ConfigError

SecretLoader = Callable[[str], "str | None"]


@dataclass(frozen=True)
class ResolvedUrl:
    """A validated URL and where it came from; str() and repr() never show the password."""

    url: str = field(repr=False)
    source: str
    # Sources tried before this one and why they did not answer (for logs; no secrets in them).
    skipped: tuple[str, ...] = ()

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    def __str__(self) -> str:
        return f"{self.masked} (from {self.source})"

    def __repr__(self) -> str:
        return f"ResolvedUrl(url={self.masked!r}, source={self.source!r})"


def resolve_database_url(
    env: Environment,
    explicit_url: str | None = None,
    secret_loader: SecretLoader | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedUrl:
    """Find, validate and TLS-check the URL for `env`; ConfigError saying what was tried when none."""
    environ = os.environ if environ is None else environ
    skipped: list[str] = []
    for source, finder in _finders(env, secret_loader, environ):
        if source == "--database-url":
            url = explicit_url or None
            if not url:
                skipped.append("--database-url not given")
        else:
            url = finder(skipped)
        if url:
            return _checked(url, source, env, tuple(skipped))
    raise ConfigError(
        f"no database URL for environment {env.name!r}: " + "; ".join(skipped),
        hint=_hint(env),
    )


def _finders(
    env: Environment, secret_loader: SecretLoader | None, environ: Mapping[str, str]
) -> list[tuple[str, Callable[[list[str]], str | None]]]:
    finders: list[tuple[str, Callable[[list[str]], str | None]]] = [("--database-url", _none)]
    if env.local:
        return [*finders, ("the embedded local cluster", lambda _s: _local_cluster_url())]
    if env.secret_block:
        finders.append(
            (
                f"secret block {env.secret_block!r}",
                lambda s: _from_secret(env.secret_block or "", secret_loader, s),
            )
        )
    names = [n for n in (env.database_url_env, "DATABASE_URL") if n]
    for name in dict.fromkeys(names):
        finders.append((name, functools.partial(_from_var, name, environ)))
    finders.append(("POSTGRES_* variables", lambda s: _from_postgres_vars(environ, s)))
    finders.append(("libpq PG* variables", lambda s: _from_libpq_vars(environ, s)))
    return finders


def _none(_skipped: list[str]) -> None:
    return None


def _checked(url: str, source: str, env: Environment, skipped: tuple[str, ...]) -> ResolvedUrl:
    url = url.strip()
    try:
        validate_url(url)
        require_tls_off_loopback(url, allow_insecure=env.allow_insecure)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}", hint=exc.hint) from None
    return ResolvedUrl(url=url, source=source, skipped=skipped)


def _from_secret(name: str, loader: SecretLoader | None, skipped: list[str]) -> str | None:
    if loader is None:
        skipped.append(f"secret block {name!r} not loaded (no Prefect secret loader here)")
        return None
    try:
        value = loader(name)
    except Exception as exc:  # an unreachable Prefect API or a missing block: fall through, say why
        reason = mask_url(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        skipped.append(f"secret block {name!r} unavailable ({reason[:120]})")
        return None
    if not value:
        skipped.append(f"secret block {name!r} is empty or missing")
    return value or None


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
    if not host:
        skipped.append("PGHOST unset")
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
    from db.local.cluster import cluster_from_env

    return cluster_from_env(PROJECT_ROOT).url()


def _hint(env: Environment) -> str:
    where = f"store it in the Prefect Secret block {env.secret_block!r}, " if env.secret_block else ""
    var = env.database_url_env or "DATABASE_URL"
    return f"pass --database-url, {where}or set {var} (postgresql://USER:PASSWORD@HOST:PORT/DATABASE)"
