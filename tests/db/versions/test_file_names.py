"""A one-off whose name is wrong is refused, saying which part: never silently skipped or misordered."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.errors import ConfigError
from db.versions.files import discover_migrations


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("20261207140000_rename_x.SQL", "its extension is .SQL, not .sql"),  # was never run, nothing said
        ("20261307140000_rename_x.sql", "20261307140000 is not a UTC date and time"),  # month 13 was pending
        ("20261207140000_Rename-X.sql", "its slug 'Rename-X' must be lower-case"),
        ("rename_episode_title.sql", "it must start with a 14-digit UTC timestamp, not 'rename'"),
    ],
)
def test_a_wrongly_named_one_off_is_refused_naming_the_part_that_is_wrong(
    tmp_path: Path, name: str, fault: str
) -> None:
    (tmp_path / "20261201103000_good_one.sql").write_text("SELECT 1;\n")
    (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(ConfigError, match=fault) as err:
        discover_migrations(tmp_path)
    assert name in err.value.message and "new-migration" in (err.value.hint or "")


def test_well_named_one_offs_and_the_master_file_are_read_in_version_order(tmp_path: Path) -> None:
    for name in ("20261201103000_b.sql", "20250101000000_a.sql", "99999999999999_master_schema.sql"):
        (tmp_path / name).write_text("SELECT 1;\n")
    (tmp_path / "notes.txt").write_text("not SQL: not a one-off\n")
    assert [f.version for f in discover_migrations(tmp_path)] == ["20250101000000", "20261201103000"]
