"""Refusals before anything changes: an edited applied one-off, an out-of-order one; repair on purpose."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
import pytest

from db.catalog.snapshot import snapshot_catalog
from db.connection.environments import get_environment
from db.deploy.apply import apply_master_schema
from db.errors import CheckFailed
from db.run.plan_apply import apply_schema
from db.run.preflight import preflight_failed, run_preflight
from db.versions.files import discover_migrations, file_checksum
from db.versions.history import list_versions
from db.versions.run import run_pending_migrations
from db.versions.validate import repair_version
from tests.db.versions.support import RENAME, end_state_master, migrations_folder

LIMITS = {"lock_timeout": "1s", "statement_timeout": "1min", "lock_retries": 2}


def _state(url: str) -> tuple[dict, list]:
    with psycopg.connect(url, autocommit=True) as conn:
        return snapshot_catalog(conn, None), list_versions(conn)


@pytest.fixture
def migrated(db_url: str, tmp_path: Path) -> tuple[str, Path, str]:
    """A database with the master and the rename one-off applied."""
    apply_master_schema(db_url, record_history=False)
    master = end_state_master(retype=False, backfill=False)
    folder = migrations_folder(tmp_path, master, files=(RENAME,))
    apply_schema(db_url, master, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    return db_url, folder, master


def test_an_applied_file_edited_afterwards_is_refused_naming_it_and_both_checksums(
    migrated: tuple[str, Path, str],
) -> None:
    url, folder, master = migrated
    path = folder / RENAME
    recorded = file_checksum(path.read_text())
    path.write_text(path.read_text().replace("media_url", "podcast_media_url"))
    before = _state(url)
    with pytest.raises(CheckFailed) as caught:
        apply_schema(url, master, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    message = caught.value.message
    assert RENAME in message and recorded[:16] in message and file_checksum(path.read_text())[:16] in message
    assert "nothing was changed" in message and "repair" in (caught.value.hint or "")
    assert _state(url) == before

    # Preflight says so too: the run stops there, before any backup is taken.
    env = dataclasses.replace(get_environment("local"), migrations_dir=folder)
    rows = {r.name: r for r in run_preflight(url, env, confirmed="--yes")}
    assert rows["one-off migrations"].status == "fail" and RENAME in rows["one-off migrations"].detail
    assert preflight_failed(list(rows.values()))

    # repair is the deliberate way past it, and it is recorded.
    with psycopg.connect(url, autocommit=True) as conn:
        repair_version(
            conn, discover_migrations(folder), RENAME[:14], environment="test", reason="typo in a comment"
        )
        kinds = [r["kind"] for r in list_versions(conn)]
    assert kinds == ["applied", "repair"]
    apply_schema(url, master, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]


def test_a_new_file_older_than_the_newest_applied_one_is_refused_unless_allowed(
    migrated: tuple[str, Path, str],
) -> None:
    url, folder, _ = migrated
    late = folder / "20261201080000_late_comment.sql"
    late.write_text("COMMENT ON COLUMN public.episodes.title IS 'The title as published';\n")
    before = _state(url)
    with pytest.raises(CheckFailed) as caught:
        apply_schema(url, end_state_master(retype=False, backfill=False), environment="test",
                     migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]  # fmt: skip
    assert late.name in caught.value.message and "out of order" in caught.value.message
    assert "allow_out_of_order" in (caught.value.hint or "")
    assert _state(url) == before

    # Allowed deliberately: it runs, and its row says so. (The master does not carry the comment, so
    # the plan removes it again: what matters here is the record.)
    ran = run_pending_migrations(
        url, discover_migrations(folder), environment="test", allow_out_of_order=True
    )
    assert [f.name for f in ran.files] == [late.name] and ran.files[0].out_of_order
    with psycopg.connect(url, autocommit=True) as conn:
        rows = {r["version"]: r for r in list_versions(conn)}
    assert rows[late.name[:14]]["out_of_order"] is True
