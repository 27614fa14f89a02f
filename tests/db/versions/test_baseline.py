"""A fresh database: the master builds the end state, and every one-off is recorded as baseline."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from db.deploy.lock import describe_lock_holder
from db.errors import CheckFailed
from db.plan.database import plan_database
from db.run.plan_apply import apply_schema, target_is_empty
from db.versions import deploy
from db.versions.history import list_versions
from tests.db.versions.support import BACKFILL, RENAME, RETYPE, end_state_master, migrations_folder

LIMITS = {"lock_timeout": "1s", "statement_timeout": "1min", "lock_retries": 2}


def test_a_fresh_database_records_every_one_off_as_baseline_and_the_plan_afterwards_is_empty(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    master = end_state_master()
    folder = migrations_folder(tmp_path, master)
    holders: list[object] = []
    record = deploy.record_baseline

    def record_seeing_the_lock(*args: object, **kwargs: object) -> None:
        # Recorded under the whole file's migration lock: no other migrate can see the schema first
        # and take these one-offs for pending ones.
        with psycopg.connect(db_url, autocommit=True) as conn:
            holders.append(describe_lock_holder(conn))
        record(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(deploy, "record_baseline", record_seeing_the_lock)
    result = apply_schema(db_url, master, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    assert result.method == "file"
    assert [c.name for c in result.changes if c.action == "baseline one-off"] == [RENAME, RETYPE, BACKFILL]
    assert len(holders) == 1 and holders[0] is not None, holders
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = list_versions(conn)
    assert [(r["version"], r["kind"]) for r in rows] == [
        (n[:14], "baseline") for n in (RENAME, RETYPE, BACKFILL)
    ]
    assert plan_database(db_url, master).is_empty
    again = apply_schema(db_url, master, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    assert again.changes == [] and again.method == "plan"


def test_a_one_off_whose_effect_the_master_lacks_fails_naming_it_and_leaves_the_database_empty(
    db_url: str, tmp_path: Path
) -> None:
    master = end_state_master(backfill=False)  # the backfill's new column was never put in the master
    folder = migrations_folder(tmp_path, master)
    with pytest.raises(CheckFailed) as caught:
        apply_schema(db_url, master, environment="test", migrations_dir=folder, **LIMITS)  # type: ignore[arg-type]
    assert BACKFILL in caught.value.message and "listened_minutes" in caught.value.message
    assert "nothing was changed" in caught.value.message
    assert target_is_empty(db_url, master)
