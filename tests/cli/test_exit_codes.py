"""One exit-code table for every command: in `--help`, in the README, and covering every error kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import db.errors
from cli.exit_codes import MEANINGS, ExitCode, markdown_table
from db.connection.credentials import SecretUnavailable

ROOT = Path(__file__).resolve().parents[2]
SCHEMAFLOW = Path(sys.executable).parent / "schemaflow"


def _error_kinds() -> list[type[db.errors.SchemaflowError]]:
    found, todo = [], [db.errors.SchemaflowError]
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo += kind.__subclasses__()
    return found


def test_every_error_kind_exits_with_a_code_of_the_table() -> None:
    kinds = _error_kinds()
    assert SecretUnavailable in kinds and len(kinds) >= 8
    for kind in kinds:
        assert kind.exit_code in MEANINGS, f"{kind.__name__} exits {kind.exit_code}, not in cli/exit_codes.py"


def test_help_and_readme_show_the_same_table() -> None:
    done = subprocess.run([str(SCHEMAFLOW), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    help_text = " ".join(done.stdout.split())
    for code, meaning in MEANINGS.items():
        assert f"{int(code)} {' '.join(meaning.split())}" in help_text, meaning
    assert markdown_table() in (ROOT / "README.md").read_text()


def test_version_and_a_missing_block_in_secrets_help() -> None:
    done = subprocess.run([str(SCHEMAFLOW), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.OK and done.stdout.startswith("schemaflow ")
    listed = subprocess.run(
        [str(SCHEMAFLOW), "secrets", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "exit 1: one is missing" in listed
