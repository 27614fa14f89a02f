"""Running one-offs: a no-transaction file statement by statement with lock retries; a failing file
rolls its whole transaction back and is recorded as failed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from db.deploy.apply import apply_master_schema
from db.errors import ApplyFailed
from db.versions.files import discover_migrations
from db.versions.history import list_versions
from db.versions.run import Limits, run_pending_migrations

CONCURRENT = """-- schemaflow: no-transaction
SET lock_timeout = '100ms';
CREATE INDEX CONCURRENTLY IF NOT EXISTS episodes_title_idx ON public.episodes (title);
"""
FIRST = "ALTER TABLE public.episodes ADD COLUMN IF NOT EXISTS subtitle text;\n"
BROKEN = "ALTER TABLE public.episodes RENAME COLUMN no_such_column TO something;\n"
INDEX_VALID_SQL = """
SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('public.episodes_title_idx')
"""


def _folder(root: Path, files: dict[str, str]) -> Path:
    folder = root / "migrations"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_no_transaction_file_builds_concurrently_and_retries_a_lock_timeout(
    db_url: str, tmp_path: Path
) -> None:
    apply_master_schema(db_url, record_history=False)
    folder = _folder(tmp_path, {"20261201100000_index_episode_titles.sql": CONCURRENT})
    holding = threading.Event()

    def hold_lock() -> None:  # a session that keeps the table locked against the build for 1 s
        with psycopg.connect(db_url) as conn:
            conn.execute("LOCK TABLE public.episodes IN SHARE UPDATE EXCLUSIVE MODE")
            holding.set()
            time.sleep(1.0)

    blocker = threading.Thread(target=hold_lock)
    blocker.start()
    holding.wait(10)
    ran = run_pending_migrations(
        db_url, discover_migrations(folder), environment="test", limits=Limits("100ms", "1min", 6)
    )
    blocker.join()
    [done] = ran.files
    assert done.how == "no-transaction" and done.status == "done" and done.attempts > 1
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute(INDEX_VALID_SQL).fetchone() == (True,)
        assert [r["kind"] for r in list_versions(conn)] == ["applied"]


def test_a_failing_file_rolls_back_its_transaction_with_the_files_before_it_and_is_recorded(
    db_url: str, tmp_path: Path
) -> None:
    apply_master_schema(db_url, record_history=False)
    folder = _folder(
        tmp_path, {"20261201100000_add_subtitle.sql": FIRST, "20261201100100_broken_rename.sql": BROKEN}
    )
    with pytest.raises(ApplyFailed) as caught:
        run_pending_migrations(db_url, discover_migrations(folder), environment="test")
    assert (
        "20261201100100_broken_rename.sql" in caught.value.message and "rolled back" in caught.value.message
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        column = conn.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = 'public.episodes'::regclass AND attname = 'subtitle'"
        ).fetchone()
        rows = [(r["version"], r["outcome"]) for r in list_versions(conn)]
    assert column is None  # the first file ran in the same transaction: rolled back with it
    assert rows == [("20261201100100", "failed")]
