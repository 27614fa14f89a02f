"""schemaflow lint: the master file is clean and every rule fires on its bad example, on the right line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli.main import main
from db.schema.lint import RULES, lint_file, lint_sql
from db.schema.master_file import MASTER_SCHEMA

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "bad_migrations"
BAD_FILES = sorted(BAD.glob("*.sql"))
EXPECT = re.compile(r"--\s*expect\s+(SF\d{3})")


def expected_findings(path: Path) -> set[tuple[int, str]]:
    """(line, rule) pairs marked in the file with `-- expect SFnnn` on the offending line."""
    marks = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        marks.update((number, rule) for rule in EXPECT.findall(line))
    return marks


def test_master_file_is_clean() -> None:
    assert lint_file(MASTER_SCHEMA) == []


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_each_bad_example_fails_with_the_marked_rule_and_line(path: Path) -> None:
    expected = expected_findings(path)
    assert expected, f"{path.name} marks no expected finding"
    assert {(f.line, f.rule) for f in lint_file(path)} == expected


def test_every_rule_has_a_bad_example() -> None:
    covered = {rule for path in BAD_FILES for _, rule in expected_findings(path)}
    assert covered == set(RULES)


def test_guarded_do_block_may_drop_and_create() -> None:
    text = """DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_matviews WHERE matviewname = 'm') THEN
        DROP MATERIALIZED VIEW m;
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'DELETE FROM t RETURNING 1';
"""
    assert lint_sql(text) == []


def test_cli_exit_codes_and_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint"]) == 0
    bad = BAD / "unguarded_destructive.sql"
    assert main(["lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:3: SF003 unguarded-destructive: DROP TABLE" in out
    assert "what to do:" in out
    assert main(["lint", str(BAD / "missing.sql")]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_constant_if_is_named_as_no_guard() -> None:
    findings = lint_file(BAD / "constant_guard_do_block.sql")
    assert findings and all("its IF tests a constant, not the catalog" in f.message for f in findings)
