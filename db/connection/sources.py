"""Where each connection string this process resolved came from, so that a failed connection's hint
names that place (--database-url, the Secret block, the embedded cluster) instead of listing them all.

A leaf: db/connection/target.py records, db/connection/connect.py reads, and neither imports the other.
"""

from __future__ import annotations

LOCAL_SOURCE = "the embedded local cluster"

_SOURCES: dict[str, str] = {}


def remember_source(url: str, source: str) -> None:
    """Record that `url` came from `source` (make_target does, for every string it resolves)."""
    _SOURCES[url.strip()] = source


def source_of(url: str) -> str | None:
    """Where `url` came from when this process resolved it, else None."""
    return _SOURCES.get(url.strip())
