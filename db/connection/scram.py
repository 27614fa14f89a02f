"""Password verifiers as PostgreSQL computes them (SCRAM-SHA-256, RFC 5802/7677; and legacy md5).

A password the master file sets is sent to the server already hashed, the way psql's \\password
does, so the clear text never travels in a statement that the server's log, pgaudit or
pg_stat_statements could keep; and a stored verifier is checked against the file's password the
way the server checks a login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SALT_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_verifier(password: str) -> str:
    """What pg_authid stores for `password`: SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey."""
    salt = secrets.token_bytes(SALT_BYTES)
    stored_key, server_key = _keys(password, salt, ITERATIONS)
    return f"SCRAM-SHA-256${ITERATIONS}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def password_matches(stored: str, role: str, password: str) -> bool:
    """Whether `password` logs `role` in against the verifier the server stores for it."""
    if password == stored:  # the file may give the verifier itself
        return True
    if stored.startswith("SCRAM-SHA-256$"):
        try:
            iterations_salt, keys = stored.split("$", 1)[1].split("$")
            iterations, salt = iterations_salt.split(":")
            stored_key = keys.split(":")[0]
            mine, _ = _keys(password, base64.b64decode(salt), int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(_b64(mine), stored_key)
    if stored.startswith("md5"):
        return hmac.compare_digest(stored, "md5" + hashlib.md5((password + role).encode()).hexdigest())
    return False
