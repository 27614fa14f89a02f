"""URL validation and the masking helper that keeps passwords out of every message."""

from __future__ import annotations

import pytest

from db.connection.urls import mask_url, require_tls_off_loopback, validate_url
from db.errors import ConfigError


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://app:s3cr3t-pw@db.example.com:5432/podcasts",
        "could not connect to postgresql://app:s3cr3t-pw@10.0.0.1/x: timeout",
        "host=db user=app password=s3cr3t-pw dbname=x",
        "postgresql://app@db/x?password=s3cr3t-pw&sslmode=require",
        "postgresql://app:s3cr3t-pw@with-at@db.example.com/podcasts",
    ],
)
def test_mask_url_hides_the_password(text: str) -> None:
    masked = mask_url(text)
    assert "s3cr3t-pw" not in masked
    assert "***" in masked


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:p@h/db", "scheme"),
        ("postgresql://u:p@/db", "no host"),
        ("postgresql://u:p@host:5432", "no database"),
        ("postgresql://u:p@host:notaport/db", "malformed"),
        ("", "empty"),
        ("postgresql://u:p@ss@host/db", "unencoded '@'"),
    ],
)
def test_validate_url_says_what_is_wrong(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        validate_url(url)
    assert "u:p@" not in str(info.value) and "p@ss" not in str(info.value)


def test_tls_required_off_loopback() -> None:
    require_tls_off_loopback("postgresql://u@127.0.0.1/db", allow_insecure=False)
    require_tls_off_loopback("postgresql://u@db.example.com/db?sslmode=require", allow_insecure=False)
    require_tls_off_loopback("postgresql://u@db.example.com/db", allow_insecure=True)
    with pytest.raises(ConfigError, match="TLS"):
        require_tls_off_loopback("postgresql://u:pw@db.example.com/db", allow_insecure=False)
