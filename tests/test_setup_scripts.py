"""The set-up scripts are idempotent: a second run on a set-up machine changes nothing and is quiet."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TSDB_SO = Path("/usr/lib/postgresql/15/lib/timescaledb.so")


@pytest.mark.skipif(os.geteuid() != 0, reason="setup-system.sh installs Debian packages and needs root")
def test_setup_system_second_run_changes_nothing() -> None:
    before = TSDB_SO.stat().st_mtime_ns
    started = time.monotonic()
    result = subprocess.run(["bash", str(ROOT / "scripts/setup-system.sh")], capture_output=True, text=True)
    elapsed = time.monotonic() - started
    print(f"setup-system.sh second run: {elapsed:.2f} s")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == "", "a run with nothing to do must be quiet"
    assert TSDB_SO.stat().st_mtime_ns == before, "TimescaleDB was rebuilt although it was installed"


def test_setup_venv_second_run_is_quiet() -> None:
    result = subprocess.run(["bash", str(ROOT / "scripts/setup-venv.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci/run").read_text()
    assert "set -euo pipefail" in ci
    commands = [ln for ln in ci.splitlines() if ln.strip() and not ln.startswith(("#", "set ", "cd "))]
    assert commands == ["make test"]
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
