"""An in-place restore keeps the database's owner, ACL, settings, connection limit and comment."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from db.backup.dump import backup_database
from db.backup.properties import read_properties, setting_values
from db.backup.restore import restore_backup
from db.connection.environments import get_environment
from db.connection.urls import validate_url
from db.local.cluster import LocalCluster

PASSWORD = "Rp-7q-locked"


@pytest.fixture
def roles(pg_cluster: LocalCluster) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:6]
    names = {kind: f"{kind}_{suffix}" for kind in ("owner", "app", "outsider")}
    admin = pg_cluster.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names.values():
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(PASSWORD)
                )
            )
    yield names
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names.values():
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s", (name,)
            ).fetchall()
            for (db,) in rows:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def as_role(url: str, role: str) -> str:
    parts = psycopg.conninfo.conninfo_to_dict(url)
    return psycopg.conninfo.make_conninfo(**{**parts, "user": role, "password": PASSWORD})  # type: ignore[arg-type]


def test_in_place_restore_keeps_owner_acl_settings_comment_and_the_lockout(
    db_url: str, roles: dict[str, str], pg_cluster: LocalCluster, tmp_path: Path
) -> None:
    name = validate_url(db_url)["database"]
    db, owner, app, outsider = (
        sql.Identifier(n) for n in (name, roles["owner"], roles["app"], roles["outsider"])
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept SELECT generate_series(1, 10)")
        conn.execute(
            sql.SQL("GRANT SELECT ON kept TO {}, {}").format(app, outsider)
        )  # only CONNECT keeps one out
        for statement in (
            "ALTER DATABASE {db} OWNER TO {owner}",
            "REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC",
            "GRANT CONNECT ON DATABASE {db} TO {app}",
            "GRANT TEMPORARY ON DATABASE {db} TO {app} WITH GRANT OPTION",
            "ALTER DATABASE {db} SET search_path TO '$user', public, \"Odd Schema\"",
            "ALTER DATABASE {db} SET statement_timeout TO '7s'",
            "ALTER DATABASE {db} SET app.tenant_id TO 'it''s-tenant-a'",
            "ALTER ROLE {app} IN DATABASE {db} SET work_mem TO '8MB'",
            "ALTER DATABASE {db} WITH CONNECTION LIMIT 40",
            "COMMENT ON DATABASE {db} IS 'podcast analytics, don''t drop'",
        ):
            conn.execute(sql.SQL(statement).format(db=db, owner=owner, app=app))
    with psycopg.connect(pg_cluster.url("postgres")) as conn:
        before = read_properties(conn, name)
    assert before.owner == roles["owner"] and before.acl is not None
    assert {(g.grantee, g.privilege) for g in before.acl} >= {(roles["app"], "CONNECT")}
    assert len(before.settings) == 4
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(as_role(db_url, roles["outsider"]), connect_timeout=5).close()

    env = dataclasses.replace(get_environment("staging"), backup_dir=tmp_path / "backups")
    backup = backup_database(db_url, env)
    result = restore_backup(backup.path, db_url, environment="staging")
    assert result.replaced

    with psycopg.connect(pg_cluster.url("postgres")) as conn:
        after = read_properties(conn, name)
        kept_oid = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
        replaced = conn.execute(
            "SELECT oid FROM pg_database WHERE datname = %s", (result.replaced,)
        ).fetchone()
    assert kept_oid != replaced  # really a new database under the old name
    assert after == before

    # The locked-out role stays out; the granted one gets in, with its settings.
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(as_role(db_url, roles["outsider"]), connect_timeout=5).close()
    with psycopg.connect(as_role(db_url, roles["app"]), connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (10,)
        assert conn.execute("SHOW search_path").fetchone() == ('"$user", public, "Odd Schema"',)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("7s",)
        assert conn.execute("SHOW work_mem").fetchone() == ("8MB",)
        assert conn.execute("SELECT current_setting('app.tenant_id')").fetchone() == ("it's-tenant-a",)


def test_a_database_with_the_default_acl_keeps_public_connect(
    db_url: str, pg_cluster: LocalCluster, tmp_path: Path, roles: dict[str, str]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int)")
    env = dataclasses.replace(get_environment("staging"), backup_dir=tmp_path / "backups")
    result = restore_backup(backup_database(db_url, env).path, db_url, environment="staging")
    assert result.replaced
    # Any login role may connect again, as before (the fresh copy was private only until the swap).
    psycopg.connect(as_role(db_url, roles["outsider"]), connect_timeout=5).close()
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(result.replaced)))


def test_list_settings_are_split_the_way_postgresql_stores_them() -> None:
    assert setting_values("search_path", '"$user", public, "Odd Schema", "a""b"') == [
        "$user",
        "public",
        "Odd Schema",
        'a"b',
    ]
    assert setting_values("statement_timeout", "7s") == ["7s"]
    assert setting_values("DateStyle", "ISO, MDY") == ["ISO, MDY"]  # a list, but not a quoted one
