"""URL validation and the masking helper that keeps passwords out of every message."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.connection.urls import (
    mask_url,
    parse_connection_string,
    require_tls_off_loopback,
    sqlalchemy_url,
    validate_url,
    with_database,
)
from db.errors import ConfigError


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://app:s3cr3t-pw@db.example.com:5432/podcasts",
        "could not connect to postgresql://app:s3cr3t-pw@10.0.0.1/x: timeout",
        "host=db user=app password=s3cr3t-pw dbname=x",
        "postgresql://app@db/x?password=s3cr3t-pw&sslmode=require",
        "postgresql://app:s3cr3t-pw@with-at@db.example.com/podcasts",
        "postgresql://app:s3cr3t-pw with space@db.example.com/podcasts",
        "url postgresql://app:s3cr3t-pw\twith\ttabs@db.example.com/podcasts is bad",
        "postgresql://app:s3cr3t-pw at@me@db.example.com/podcasts",
    ],
)
def test_mask_url_hides_the_password(text: str) -> None:
    masked = mask_url(text)
    assert "s3cr3t-pw" not in masked and "with" not in masked and "at@me" not in masked
    assert "***" in masked


def test_mask_url_keeps_the_rest_of_a_message() -> None:
    text = "could not connect to postgresql://app:pw@db:5432/x as app: see ops@example.com"
    assert mask_url(text) == "could not connect to postgresql://app:***@db:5432/x as app: see ops@example.com"
    assert mask_url("postgresql://db:5432/x") == "postgresql://db:5432/x"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:p@h/db", "scheme"),
        ("postgresql://u:p@host/db?sslmode=require&nosuch=1", "unknown option 'nosuch'"),
        ("postgresql://u:p@host:5432", "no database"),
        ("postgresql://u:p@host:notaport/db", "malformed"),
        ("", "empty"),
        ("postgresql://u:p@ss@host/db", "unencoded '@'"),
        ("postgresql://u:p/ss@host/db", "unencoded '/'"),
        ("postgresql://u:pa:ss/w@host/db", "unencoded '/'"),
        ("postgresql://u:p%zz@host/db", "malformed"),
        ("postgresql://u:ab%cd@host/db", "not valid UTF-8"),  # a raw % before hex digits
        ("postgresql://u:p ss@host/db", "percent-encoded spaces"),  # libpq quoted the password
        ("host=db dbname", "malformed connection string"),
    ],
)
def test_validate_url_says_what_is_wrong(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        validate_url(url)
    assert "u:p@" not in str(info.value) and "p@ss" not in str(info.value) and "p ss" not in str(info.value)


def test_tls_required_off_loopback() -> None:
    require_tls_off_loopback("postgresql://u@127.0.0.1/db", allow_insecure=False)
    require_tls_off_loopback("postgresql://u@db.example.com/db?sslmode=require", allow_insecure=False)
    require_tls_off_loopback("postgresql://u@db.example.com/db", allow_insecure=True)
    with pytest.raises(ConfigError, match="TLS"):
        require_tls_off_loopback("postgresql://u:pw@db.example.com/db", allow_insecure=False)


@pytest.mark.parametrize("password", ["p:w/rd", "p/w", "p@ss", "a@b/c:d"])
def test_a_raw_special_character_in_the_password_gets_the_encoding_hint(password: str) -> None:
    url = f"postgresql://app:{password}@db.example.com:5432/app?sslmode=verify-full"
    with pytest.raises(ConfigError) as info:
        validate_url(url)
    text = f"{info.value.message} {info.value.hint}"
    assert "percent-encode" in text and "%2F" in text and "%40" in text
    assert "Port could not be cast" not in text and password not in text


def test_a_raw_colon_alone_is_read_as_libpq_reads_it() -> None:
    # libpq splits user:password at the first ':' and ends it at the first '@': unambiguous.
    url = "postgresql://app:pa:ss@127.0.0.1:5432/app"
    assert parse_connection_string(url)["password"] == "pa:ss"
    assert validate_url(url)["host"] == "127.0.0.1"
    assert "pa:ss" not in mask_url(url)


@pytest.mark.parametrize(
    ("text", "database"),
    [
        ("host=127.0.0.1 port=5433 dbname=app user=u", "app"),
        ("postgresql://u@/app", "app"),  # libpq's default socket
        ("postgresql:///app?host=/var/run/postgresql", "app"),
    ],
)
def test_every_libpq_form_is_accepted(text: str, database: str) -> None:
    assert validate_url(text)["database"] == database
    assert require_tls_off_loopback(text, allow_insecure=False).local


BYPASSES = [
    "postgresql://u:p@localhost/db?host=10.255.255.1",
    "postgresql://u:p@localhost/db?hostaddr=10.255.255.1",
    "postgresql://u:p@127.0.0.1,10.255.255.1/db",
    "host=127.0.0.1,10.255.255.1 dbname=db",
    "postgresql://u@[::1]:5432,db.example.com:5432/db",
]


@pytest.mark.parametrize("url", BYPASSES)
def test_every_host_libpq_may_use_is_held_to_the_tls_rule(url: str) -> None:
    with pytest.raises(ConfigError, match="does not require TLS") as info:
        require_tls_off_loopback(url, allow_insecure=False, environ={})
    assert "10.255.255.1" in info.value.message or "db.example.com" in info.value.message
    assert "verify-full" in (info.value.hint or "") and "sslrootcert" in (info.value.hint or "")


def test_pg_variables_libpq_would_add_count(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://u@localhost/db"
    for var in ("PGHOSTADDR", "PGSSLMODE", "PGSERVICE", "PGREQUIRESSL"):
        monkeypatch.delenv(var, raising=False)
    assert require_tls_off_loopback(url, allow_insecure=False).local
    monkeypatch.setenv("PGHOSTADDR", "10.255.255.1")  # libpq would connect there, not to localhost
    with pytest.raises(ConfigError, match=r"10\.255\.255\.1"):
        require_tls_off_loopback(url, allow_insecure=False)
    monkeypatch.setenv("PGSSLMODE", "verify-full")  # and PGSSLMODE is honoured (issue 16)
    verdict = require_tls_off_loopback(url, allow_insecure=False)
    assert verdict.remote_hosts == ("10.255.255.1",) and verdict.sslmode == "verify-full"
    assert not verdict.warning
    # What the string says wins over the variable, as in libpq.
    with pytest.raises(ConfigError, match="sslmode disable"):
        require_tls_off_loopback(url + "?sslmode=disable", allow_insecure=False)


def test_a_service_file_entry_is_read_as_libpq_reads_it(tmp_path: Path) -> None:
    services = tmp_path / "pg_service.conf"
    services.write_text(
        "# comment\n[near]\nhost=127.0.0.1\ndbname=app\n\n[far]\nhost=db.example.com\ndbname=app\n"
        "[far-verified]\nhost=db.example.com\ndbname=app\nsslmode=verify-full\nsslrootcert=/ca.crt\n"
    )
    environ = {"PGSERVICEFILE": str(services), "PGSYSCONFDIR": str(tmp_path / "none")}
    assert validate_url("service=near", environ)["database"] == "app"
    assert require_tls_off_loopback("postgresql://?service=near", allow_insecure=False, environ=environ).local
    with pytest.raises(ConfigError, match=r"db\.example\.com"):
        require_tls_off_loopback("service=far", allow_insecure=False, environ=environ)
    with pytest.raises(ConfigError, match=r"db\.example\.com"):  # PGSERVICE names it just the same
        require_tls_off_loopback("dbname=app", allow_insecure=False, environ={**environ, "PGSERVICE": "far"})
    verified = require_tls_off_loopback("service=far-verified", allow_insecure=False, environ=environ)
    assert verified.sslmode == "verify-full" and not verified.warning
    with pytest.raises(ConfigError, match='definition of service "nowhere" not found'):
        validate_url("service=nowhere", environ)


def test_require_is_accepted_with_a_warning_verify_full_without() -> None:
    require = require_tls_off_loopback(
        "postgresql://u@db.example.com/db?sslmode=require", allow_insecure=False
    )
    assert "does not authenticate the server" in require.warning and "verify-full" in require.warning
    full = "postgresql://u@db.example.com/db?sslmode=verify-full&sslrootcert=/etc/ssl/ca.crt"
    assert require_tls_off_loopback(full, allow_insecure=False).warning == ""
    insecure = require_tls_off_loopback("postgresql://u@db.example.com/db", allow_insecure=True)
    assert "allow_insecure" in insecure.warning


def test_other_forms_keep_their_meaning() -> None:
    keyword = "host=127.0.0.1 port=5433 dbname=app user=u password=pw"
    moved = parse_connection_string(with_database(keyword, "other"))
    assert moved["dbname"] == "other" and moved["port"] == "5433" and moved["password"] == "pw"
    assert (
        with_database("postgresql://u:pw@h:5/app?sslmode=require", "x")
        == "postgresql://u:pw@h:5/x?sslmode=require"
    )
    assert sqlalchemy_url("postgresql://u@h/app").startswith("postgresql+psycopg://u@h/app")
    # GX's URL type wants a host in the authority; SQLAlchemy passes the query's host, which wins.
    assert (
        sqlalchemy_url("host=h port=7 dbname=app user=u")
        == "postgresql+psycopg://u@localhost/app?host=h&port=7"
    )


@pytest.mark.parametrize(
    "text",
    [
        "postgres//postgres:TopSecret77@localhost/podcast_analytics",
        "postgresql:/postgres:TopSecret77@localhost/podcast_analytics",
        "postgresql//app:TopSecret77@db:5432/app?sslmode=require",
    ],
)
def test_a_url_with_a_mistyped_scheme_is_refused_without_its_password_and_says_how_to_write_one(
    text: str,
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_connection_string(text)
    assert "TopSecret77" not in err.value.message + (err.value.hint or "")
    assert "no scheme followed by '://'" in err.value.message
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in (err.value.hint or "")


def test_a_misspelt_url_option_is_named_not_blamed_on_the_password_s_encoding() -> None:
    with pytest.raises(ConfigError, match="unknown option 'sslmod'") as err:
        parse_connection_string("postgresql://app:TopSecret77@db:5432/app?sslmod=require")
    assert "percent-encode" not in (err.value.hint or "") and "sslmode" in (err.value.hint or "")
    assert "TopSecret77" not in err.value.message
