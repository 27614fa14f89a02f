"""Parsing, validating and masking PostgreSQL connection URLs; the one place a password is hidden."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from psycopg import conninfo

from db.errors import ConfigError

MASK = "***"
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "")
_STRONG_SSLMODES = ("require", "verify-ca", "verify-full")
# password=... inside a libpq keyword string or a query string, and user:password@ in a URL.
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)
# Greedy up to the last "@" of the word: a password with a raw "@" must be masked whole.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)(\S*)(@)")


def mask_url(text: str | None) -> str:
    """Return `text` with every password in it (URL userinfo or password=...) replaced by ***."""
    if not text:
        return ""
    masked = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", str(text))
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}", masked)


def mask_secret(text: str, secret: str | None) -> str:
    """Mask URLs in `text` and also any literal occurrence of a known secret (e.g. a password)."""
    masked = mask_url(text)
    if secret and len(secret) >= 3:
        masked = masked.replace(secret, MASK)
    return masked


def validate_url(url: str) -> dict[str, str]:
    """Check a postgresql:// URL's scheme, host and database; return its parts or raise ConfigError."""
    if not url or not url.strip():
        raise ConfigError("the database URL is empty", hint="pass --database-url or set DATABASE_URL")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            f"malformed database URL {mask_url(url)}: {exc}",
            hint="expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
        ) from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"database URL {mask_url(url)} has scheme {parts.scheme or '(none)'!r}",
            hint="use postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
        )
    if parts.netloc.count("@") > 1:
        # urlsplit splits at the last "@", libpq at the first: they would disagree on the host.
        raise ConfigError(
            f"database URL {mask_url(url)} has an unencoded '@' in its user or password",
            hint="percent-encode it as %40, e.g. postgresql://app:p%40ss@db.example.com/app",
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = unquote(parts.hostname or "") or query.get("host", "")
    database = unquote(parts.path.lstrip("/")) or query.get("dbname", "")
    if not host:
        raise ConfigError(
            f"database URL {mask_url(url)} names no host",
            hint="add the host, e.g. postgresql://user@db.example.com:5432/app",
        )
    if not database:
        raise ConfigError(
            f"database URL {mask_url(url)} names no database",
            hint="add the database after the host, e.g. .../podcast_analytics",
        )
    return {
        "host": host,
        "port": str(port or query.get("port", "5432")),
        "user": unquote(parts.username or "") or query.get("user", ""),
        "database": database,
        "sslmode": query.get("sslmode", ""),
    }


def is_loopback(url: str) -> bool:
    """True when the URL's host is this machine (TCP loopback or a Unix socket directory)."""
    host = validate_url(url)["host"]
    return host in _LOOPBACK or host.startswith("127.") or host.startswith("/")


def require_tls_off_loopback(url: str, *, allow_insecure: bool) -> None:
    """Refuse a non-loopback URL without sslmode=require or stronger, unless explicitly allowed."""
    if allow_insecure or is_loopback(url):
        return
    if validate_url(url)["sslmode"] not in _STRONG_SSLMODES:
        raise ConfigError(
            f"{mask_url(url)} is off this machine but does not require TLS",
            hint="append ?sslmode=require (or verify-full), or set allow_insecure = true for the environment",
        )


def with_database(url: str, database: str) -> str:
    """Return `url` pointing at another database on the same server."""
    parts = urlsplit(url)
    return parts._replace(path="/" + database).geturl()


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy/GX with the psycopg 3 driver (never psycopg2)."""
    parts = urlsplit(url)
    return parts._replace(scheme="postgresql+psycopg").geturl()


def libpq_url(url: str) -> str:
    """The same URL as libpq and psycopg accept it (plain postgresql:// scheme)."""
    parts = urlsplit(url)
    return parts._replace(scheme="postgresql").geturl() if parts.scheme != "postgresql" else url


def libpq_subprocess_args(url: str) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, {"PGPASSWORD": ...} or {}) for running psql/pg_dump on `url`.

    A child's command line is visible to every user in ps; its environment is not, so the password
    travels there. Merge the dict into a copy of os.environ for the child.
    """
    params = conninfo.conninfo_to_dict(libpq_url(url))
    password = params.pop("password", None)
    return conninfo.make_conninfo("", **params), ({"PGPASSWORD": str(password)} if password else {})
