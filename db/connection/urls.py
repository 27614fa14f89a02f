"""Connection strings as libpq reads them (psycopg.conninfo), and the one place a password is hidden.

Every libpq form is accepted: postgresql:// and postgres:// URLs (also with multiple hosts and
`?host=` / `?hostaddr=` / `?service=` in the query), keyword strings (`host=... dbname=...`) and
`service=NAME` alone. What the string leaves out, libpq takes from the service file and PG* variables
(db/connection/libpq.py); the password may come from PGPASSWORD or ~/.pgpass, so a string without one
is fine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit

import psycopg
from psycopg import conninfo

from db.connection.libpq import effective_params, host_entries
from db.connection.tls import TlsVerdict, is_local_host, judge_tls
from db.errors import ConfigError

MASK = "***"
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# password=... inside a libpq keyword string or a query string, and user:password@ in a URL.
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)
# Greedy up to the last "@" of the word: a password with a raw "@" or "/" must be masked whole.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)(\S*)(@)")
# A raw space or tab in the password ends the word above before its "@": from the ':' to the line's
# last '@' is masked then (never a password already masked, whose "***@" follows the ':').
_SPACED_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^\s@/]*[ \t][^\n]*)(@)")
# A URL whose scheme is mistyped (postgres//u:p@h, postgresql:/u:p@h) has no "://" for the mask above
# to anchor on: whatever stands between a ':' and the last '@' may be the password.
_LOOSE_USERINFO = re.compile(r"([^\s:@]*:)([^\s]*)(@)")
ENCODING_HINT = (
    "percent-encode the user's and password's special characters: @ as %40, / as %2F, : as %3A, "
    "% as %25 (Python: urllib.parse.quote(password, safe=''))"
)
DEFAULT_SOCKET = "(default Unix socket)"
NO_DATABASE_HINT = "add the database after the host, e.g. .../podcast_analytics (or dbname=..., PGDATABASE)"


def mask_url(text: str | None) -> str:
    """Return `text` with every password in it (URL userinfo or password=...) replaced by ***."""
    if not text:
        return ""
    masked = str(text)
    for pattern in (_URL_PASSWORD, _SPACED_URL_PASSWORD):
        masked = pattern.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", masked)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}", masked)


def first_error_line(exc: BaseException) -> str:
    """An error's first line for a one-line message, passwords masked; its type's name if it has no text."""
    text = str(exc).strip()
    return mask_url(text.splitlines()[0] if text else type(exc).__name__)


def mask_secret(text: str, secret: str | None) -> str:
    """Mask URLs in `text` and also any literal occurrence of a known secret (e.g. a password)."""
    masked = mask_url(text)
    if secret and len(secret) >= 3:
        masked = masked.replace(secret, MASK)
    return masked


def is_url(text: str) -> bool:
    """True for the URL form (scheme://...), False for a libpq keyword string."""
    return bool(_SCHEME.match(text.strip()))


def parse_connection_string(text: str) -> dict[str, str]:
    """libpq's own parse of a URL or keyword string (nothing from the environment yet).

    ConfigError with the fix for what libpq would misread: an unknown scheme, a raw '@' or '/' in
    the user or password (libpq would take part of the password for the host or port), a bad port.
    """
    if not text or not text.strip():
        raise ConfigError("the database URL is empty", hint="pass --database-url or set DATABASE_URL")
    text = text.strip()
    shown = mask_url(text)
    scheme = _SCHEME.match(text)
    if scheme:
        if scheme.group(1) not in _SCHEMES:
            raise ConfigError(
                f"database URL {shown} has scheme {scheme.group(1)!r}",
                hint="use postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or host=... dbname=...",
            )
        _refuse_raw_userinfo(text, shown)
    try:
        params = {k: str(v) for k, v in conninfo.conninfo_to_dict(libpq_url(text)).items()}
    except UnicodeDecodeError:
        # A percent escape such as %cd decodes to a byte that is not UTF-8: a raw '%' in a password.
        raise ConfigError(
            f"malformed database URL {shown}: a percent escape is not valid UTF-8", hint=ENCODING_HINT
        ) from None
    except psycopg.ProgrammingError as exc:
        # libpq quotes a piece of the string, which may be part of the password: drop it.
        reason = re.sub(r'(after|token:|found in) "[^"]*"', r'\1 "..."', str(exc).strip().splitlines()[0])
        if scheme:
            unknown = re.search(r'invalid URI query parameter: "([^"]*)"', str(exc))
            if unknown:  # a misspelt option (sslmod=), not a password that needs encoding
                raise ConfigError(
                    f"database URL {shown} has an unknown option {unknown.group(1)!r}",
                    hint="check its spelling against libpq's parameters (sslmode, connect_timeout, "
                    "application_name, options, ...)",
                ) from None
            raise ConfigError(f"malformed database URL {shown}: {reason}", hint=ENCODING_HINT) from None
        shown = _LOOSE_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", shown)
        if "@" in text or "//" in text or text.lower().startswith("postgres"):
            raise ConfigError(
                f"malformed database URL {shown}: it has no scheme followed by '://'",
                hint="write postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or key=value pairs: host=... "
                "dbname=...)",
            ) from None
        raise ConfigError(
            f"malformed connection string {shown}: {reason}",
            hint="write key=value pairs separated by spaces, e.g. host=db.example.com dbname=app",
        ) from None
    for port in params.get("port", "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(
                f"malformed database URL {shown}: port {port!r} is not a number from 1 to 65535",
                hint="expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE; " + ENCODING_HINT,
            )
    return params


def _refuse_raw_userinfo(url: str, shown: str) -> None:
    # libpq ends the user:password part at the first '@' or '/', so a raw one in the password
    # silently moves the rest into the host, port or database name.
    authority = url.split("://", 1)[1].split("?", 1)[0]
    if "@" not in authority:
        return
    userinfo = authority[: authority.rfind("@")]
    for char in ("@", "/"):
        if char in userinfo:
            raise ConfigError(
                f"database URL {shown} has an unencoded {char!r} in its user or password", hint=ENCODING_HINT
            )


def connection_params(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parameters libpq will connect with: the string's, then its service's, then PG* variables."""
    return effective_params(parse_connection_string(text), environ)


def validate_url(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Check a connection string; return host, port, user, database, sslmode as libpq will use them.

    A host may be left to libpq (its default Unix socket, PGHOST, a service); a database may not: a
    deploy to "the database named like the user" is never what was meant.
    """
    params = connection_params(text, environ)
    if not params.get("dbname"):
        raise ConfigError(
            f"database URL {mask_url(text)} names no database",
            hint=NO_DATABASE_HINT,
        )
    return summary(params)


def summary(params: Mapping[str, str]) -> dict[str, str]:
    """The parts a message names (never the password)."""
    return {
        "host": params.get("host") or params.get("hostaddr") or DEFAULT_SOCKET,
        "port": params.get("port") or "5432",
        "user": params.get("user", ""),
        "database": params.get("dbname", ""),
        "sslmode": params.get("sslmode", ""),
    }


def is_loopback(text: str) -> bool:
    """True when every host and hostaddr libpq may use is this machine (loopback or a Unix socket)."""
    params = connection_params(text)
    return all(is_local_host(h) for h in host_entries(params))


def require_tls_off_loopback(
    text: str, *, allow_insecure: bool, environ: Mapping[str, str] | None = None
) -> TlsVerdict:
    """validate_url, then the TLS rule (db/connection/tls.py); ConfigError when either refuses."""
    validate_url(text, environ)
    return judge_tls(connection_params(text, environ), allow_insecure=allow_insecure, shown=mask_url(text))


def with_database(text: str, database: str) -> str:
    """The same connection pointing at another database on the same server."""
    if is_url(text) and "dbname=" not in text.split("?", 1)[-1]:
        parts = urlsplit(text)
        return parts._replace(path="/" + database).geturl()
    return conninfo.make_conninfo(libpq_url(text), dbname=database)


def sqlalchemy_url(text: str) -> str:
    """The same connection for SQLAlchemy/GX with the psycopg 3 driver (never psycopg2)."""
    if is_url(text) and "service=" not in text:
        return urlsplit(text)._replace(scheme="postgresql+psycopg").geturl()
    # A keyword string or service: libpq's complete parameters (GX's URL type wants a host in the
    # authority; SQLAlchemy hands `host` from the query, which wins, and the rest to psycopg).
    params = {k: v for k, v in connection_params(text).items() if k != "service"}
    auth = quote(params.pop("user", ""), safe="")
    password = params.pop("password", "")
    auth += (":" + quote(password, safe="")) if password else ""
    database = quote(params.pop("dbname", ""), safe="")
    return f"postgresql+psycopg://{auth}{'@' if auth else ''}localhost/{database}?" + urlencode(params)


def libpq_url(text: str) -> str:
    """The same string as libpq and psycopg accept it (plain postgresql:// scheme)."""
    text = text.strip()
    if text.startswith("postgresql+psycopg://"):
        return "postgresql://" + text.split("://", 1)[1]
    return text


def libpq_subprocess_args(text: str) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, {"PGPASSWORD": ...} or {}) for running psql/pg_dump on `text`.

    A child's command line is visible to every user in ps; its environment is not, so the password
    travels there. Merge the dict into a copy of os.environ for the child.
    """
    params = conninfo.conninfo_to_dict(libpq_url(text))
    password = params.pop("password", None)
    return conninfo.make_conninfo("", **params), ({"PGPASSWORD": str(password)} if password else {})
