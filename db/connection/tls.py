"""The one TLS rule: a connection that may leave this machine must use TLS, and should verify the server.

Judged on libpq's own view of the connection (db/connection/libpq.py): every host and hostaddr,
after the service file and PG* variables. Loopback addresses, `localhost`, the default socket and
Unix-socket directories stay on this machine; anything else is remote.

- sslmode=verify-full (or verify-ca) with sslrootcert: recommended, no remark.
- sslmode=require: accepted with a warning, because it encrypts but does not authenticate the server
  (whoever answers on the path gets the password).
- anything weaker (prefer, libpq's default, allow, disable): refused, unless the environment sets
  allow_insecure = true (then a warning says so).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from db.connection.libpq import host_entries
from db.errors import ConfigError

VERIFYING_SSLMODES = ("verify-full", "verify-ca")
ENCRYPTING_SSLMODES = ("require", *VERIFYING_SSLMODES)
LOOPBACK_NAMES = ("localhost", "localhost.")
RECOMMENDED = "sslmode=verify-full&sslrootcert=/path/to/ca.crt"
REQUIRE_WARNING = (
    "sslmode=require encrypts the connection but does not authenticate the server; "
    f"use {RECOMMENDED} (sslrootcert=system for a public CA)"
)


@dataclass(frozen=True)
class TlsVerdict:
    """What the rule said about one connection: where it goes, with which sslmode, and any warning."""

    remote_hosts: tuple[str, ...]
    sslmode: str
    sslmode_source: str
    warning: str = ""

    @property
    def local(self) -> bool:
        return not self.remote_hosts

    def describe(self) -> str:
        """E.g. 'sslmode verify-full' or 'local socket/loopback, sslmode prefer (libpq default)'."""
        where = "on this machine, " if self.local else ""
        return f"{where}sslmode {self.sslmode} ({self.sslmode_source})"


def is_local_host(entry: str) -> bool:
    """True for the default socket (''), a socket directory, an abstract socket, localhost, loopback IPs."""
    entry = entry.strip()
    if entry == "" or entry.startswith("/") or entry.startswith("@"):
        return True
    if entry.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(entry.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: DNS decides, so it counts as remote


def effective_sslmode(params: Mapping[str, str]) -> tuple[str, str]:
    """(sslmode, where it came from) from already-completed libpq parameters."""
    if params.get("sslmode"):
        return params["sslmode"].strip().lower(), "set"
    if params.get("requiressl", "").strip() == "1":
        return "require", "requiressl=1"
    return "prefer", "libpq default"


def judge_tls(
    params: Mapping[str, str], *, allow_insecure: bool, shown: str = "the connection"
) -> TlsVerdict:
    """Apply the rule to completed libpq `params`; ConfigError naming the remote host when refused.

    `shown` is how the connection is named in messages (already masked by the caller).
    """
    remote = tuple(dict.fromkeys(h.strip() for h in host_entries(params) if not is_local_host(h)))
    sslmode, source = effective_sslmode(params)
    if not remote:
        return TlsVerdict((), sslmode, source)
    hosts = ", ".join(remote)
    if sslmode in VERIFYING_SSLMODES:
        return TlsVerdict(remote, sslmode, source)
    if sslmode == "require":
        return TlsVerdict(remote, sslmode, source, REQUIRE_WARNING)
    if allow_insecure:
        warning = f"allow_insecure = true: connecting to {hosts} with sslmode {sslmode}, without TLS"
        return TlsVerdict(remote, sslmode, source, warning)
    raise ConfigError(
        f"{shown} connects to {hosts}, off this machine, with sslmode {sslmode} ({source}): "
        "it does not require TLS",
        hint=f"add {RECOMMENDED} (or sslmode=require, which encrypts but does not verify the server), "
        "or set allow_insecure = true for the environment",
    )
