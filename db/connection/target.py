"""One resolved target: the environment, its connection string, where that came from, and the TLS verdict.

Built once per command or flow run (cli/target.py, tasks/secrets.py) and passed down, so the name is
resolved and the string parsed and TLS-checked in one place. str() and repr() never show the password;
`params` is libpq's complete view of the connection (service file and PG* variables applied) minus it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from db.connection.credentials import SecretLoader, find_database_url
from db.connection.sources import remember_source
from db.connection.tls import TlsVerdict, judge_tls
from db.connection.urls import NO_DATABASE_HINT, connection_params, mask_url, summary
from db.errors import ConfigError

if TYPE_CHECKING:
    from db.connection.environments import Environment


@dataclass(frozen=True)
class Target:
    """The database a command works on. `environment` is None for a bare --database-url."""

    environment: Environment | None
    url: str = field(repr=False)
    source: str
    params: Mapping[str, str] = field(repr=False)
    tls: TlsVerdict
    # Sources tried before this one and why they did not answer (for logs; no secrets in them).
    skipped: tuple[str, ...] = ()

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    @property
    def name(self) -> str:
        """The environment's name, or what stands for it in messages."""
        return self.environment.name if self.environment else "--database-url"

    @property
    def warnings(self) -> tuple[str, ...]:
        return (self.tls.warning,) if self.tls.warning else ()

    def parts(self) -> dict[str, str]:
        """host, port, user, database, sslmode as libpq will use them."""
        return summary(self.params)

    def describe(self) -> str:
        """One line for a report: where, as whom, with which TLS, from which source."""
        p = self.parts()
        return (
            f"{p['host']}:{p['port']}/{p['database']} as {p['user'] or '(default user)'}, "
            f"{self.tls.describe()}, from {self.source}"
        )

    def __str__(self) -> str:
        return f"{self.masked} (from {self.source})"

    def __repr__(self) -> str:
        return f"Target(url={self.masked!r}, source={self.source!r}, environment={self.name!r})"


def make_target(
    url: str,
    source: str,
    env: Environment | None = None,
    *,
    skipped: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> Target:
    """Parse `url` as libpq will, demand a database, apply the TLS rule; ConfigError naming the source."""
    url = url.strip()
    try:
        params = connection_params(url, environ)
        if not params.get("dbname"):
            raise ConfigError(f"database URL {mask_url(url)} names no database", hint=NO_DATABASE_HINT)
        verdict = judge_tls(params, allow_insecure=bool(env and env.allow_insecure), shown=mask_url(url))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}", hint=exc.hint) from None
    safe = MappingProxyType({k: v for k, v in params.items() if k != "password"})
    remember_source(url, source)
    return Target(env, url, source, safe, verdict, skipped)


def resolve_target(
    env: Environment,
    explicit_url: str | None = None,
    secret_loader: SecretLoader | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """The environment's target: its URL found (fail closed, db/connection/credentials.py) and checked."""
    found = find_database_url(env, explicit_url, secret_loader, environ)
    return make_target(found.url, found.source, env, skipped=found.skipped, environ=environ)


def target_for_url(url: str, environ: Mapping[str, str] | None = None) -> Target:
    """A bare --database-url (no environment): the same parse and TLS rule, no allow_insecure."""
    return make_target(url, "--database-url", None, environ=environ)
