"""Every libpq connection-string form connects, as psql would: keyword strings, services, .pgpass, PG*."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from db.connection.connect import connect
from db.connection.target import target_for_url
from db.connection.urls import parse_connection_string
from db.errors import ConnectionFailed


@pytest.fixture
def parts(db_url: str) -> dict[str, str]:
    return parse_connection_string(db_url)


@pytest.fixture
def libpq_files(tmp_path: Path, parts: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A service file naming the test database (no password) and a 0600 .pgpass holding it."""
    for var in (
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "PGSSLMODE",
        "PGSERVICE",
    ):
        monkeypatch.delenv(var, raising=False)
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[sf-test]\nhost={parts['host']}\nport={parts['port']}\ndbname={parts['dbname']}\nuser={parts['user']}\n"
    )
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{parts['host']}:{parts['port']}:*:{parts['user']}:{parts['password']}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGSYSCONFDIR", str(tmp_path / "no-system-services"))
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    return tmp_path


def current_database(text: str) -> str:
    with connect(text, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.usefixtures("libpq_files")
def test_every_form_reaches_the_same_database(parts: dict[str, str]) -> None:
    forms = [
        f"host={parts['host']} port={parts['port']} dbname={parts['dbname']} user={parts['user']}",
        "service=sf-test",
        "postgresql://?service=sf-test",
        f"postgresql://{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}",  # .pgpass
    ]
    for form in forms:
        assert current_database(form) == parts["dbname"], form
        assert target_for_url(form).tls.local


@pytest.mark.usefixtures("libpq_files")
def test_pgservice_and_pgsslmode_are_honoured(parts: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSERVICE", "sf-test")
    assert current_database(f"dbname={parts['dbname']}") == parts["dbname"]
    monkeypatch.setenv("PGSSLMODE", "disable")
    assert current_database("service=sf-test") == parts["dbname"]
    assert target_for_url("service=sf-test").tls.sslmode == "disable"
    monkeypatch.setenv("PGSSLMODE", "require")  # the test cluster has no TLS: libpq must refuse it
    with pytest.raises(ConnectionFailed, match="SSL"):
        current_database("service=sf-test")


@pytest.mark.usefixtures("libpq_files")
def test_a_command_takes_a_service_name(parts: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    code = main(["health", "--no-gx", "--database-url", "service=sf-test"])
    out, err = capsys.readouterr()
    assert code in (0, 1) and "schema health:" in out, err  # an empty database is unhealthy, not unreachable
    assert parts["password"] not in out + err
