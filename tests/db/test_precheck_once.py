"""The schema file's cheap checks run once per text in a process (the CLI's migrate, then its flow),
and again for any other text: a changed or refused file is never waved through."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.errors import CheckFailed
from db.schema import precheck


def test_the_same_text_is_linted_once_and_a_changed_one_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    linted: list[str] = []
    real = precheck.lint_sql
    monkeypatch.setattr(precheck, "lint_sql", lambda text: linted.append(text) or real(text))
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE IF NOT EXISTS public.once (id int);\n")
    assert precheck.check_schema_file(schema) == precheck.check_schema_file(schema)
    assert len(linted) == 1
    schema.write_text("CREATE TABLE IF NOT EXISTS public.once (id int;\n")  # edited: a syntax error
    for _ in range(2):  # refused every time: only a text that passed is remembered
        with pytest.raises(CheckFailed, match=r"schema\.sql:1"):
            precheck.check_schema_file(schema)
    assert len(linted) == 3
