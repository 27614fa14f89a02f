"""The pull-request check: the workflow's job runs scripts/pr-check.sh, which runs green on a fixture change
in a temporary git repository; a base revision git does not have exits 2; actionlint passes the workflows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml

from db.local.cluster import LocalCluster
from tests.cli.change_fixture import LEFTOVERS_SQL, NEW_INDEX, RENAME_ONE_OFF, write_change

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
SCHEMAFLOW = Path(sys.executable).with_name("schemaflow")
ACTIONLINT = Path(sys.executable).with_name("actionlint")
MASTER = "db/migrations/99999999999999_master_schema.sql"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@schemaflow.invalid", *args],
        cwd=repo, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def _pull_request_repository(tmp_path: Path) -> Path:
    """main holds the master file; the branch `change` makes the fixture change and adds the one-off."""
    repo = tmp_path / "repo"
    folder = repo / "db" / "migrations"
    base, head = write_change(tmp_path / "base", tmp_path / "head")
    folder.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    shutil.copy(base, folder / base.name)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "checkout", "-q", "-b", "change")
    shutil.copy(head, folder / head.name)
    shutil.copy(tmp_path / "head" / RENAME_ONE_OFF, folder / RENAME_ONE_OFF)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the change")
    return repo


def test_the_workflow_runs_the_script_and_the_script_runs_green_on_a_change(
    pg_cluster: LocalCluster, admin_url: str, tmp_path: Path
) -> None:
    job = yaml.safe_load((WORKFLOWS / "pr-check.yml").read_text())["jobs"]["check"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert any(run.startswith('bash scripts/pr-check.sh "$BASE_REF"') for run in runs), runs
    repo = _pull_request_repository(tmp_path)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "SCHEMAFLOW": str(SCHEMAFLOW), "SCHEMAFLOW_SCRATCH_URL": admin_url,
           "GITHUB_STEP_SUMMARY": str(summary)}  # fmt: skip

    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pr-check.sh"), "main", "out"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    markdown = (repo / "out" / "plan.md").read_text()
    assert summary.read_text() == markdown  # the job summary is the artifact's Markdown
    assert f"Base `main:{MASTER}` → head `{MASTER}`" in markdown
    assert f"1. one-off {RENAME_ONE_OFF}" in markdown and NEW_INDEX in markdown
    assert "### Hazards staging would not allow" in markdown and "not allowed in staging" in markdown
    # No live database was read: no step shows a size, and the scratch databases are gone.
    assert "Sizes: none: no live database was read" in markdown and "| ~" not in markdown
    with psycopg.connect(admin_url) as conn:
        assert conn.execute(LEFTOVERS_SQL).fetchone() == (0,)
    assert "1 one-off file(s), 0 error(s)" in (repo / "out" / "lint.txt").read_text()
    password = pg_cluster.password_file.read_text().strip()
    assert password not in done.stdout + done.stderr + markdown

    missing = subprocess.run(
        [str(SCHEMAFLOW), "plan", "--base-ref", "origin/no-such-branch", "--scratch-url", admin_url],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "'origin/no-such-branch' names no commit" in missing.stderr and "fetch-depth: 0" in missing.stderr


def test_actionlint_passes_the_workflows_and_fails_a_broken_one(tmp_path: Path) -> None:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} is missing: run make setup-venv (the dev dependencies install it)")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 2
    done = subprocess.run([str(ACTIONLINT), *files], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "pr-check.yml").read_text().replace("runs-on:", "runs_on:"))
    assert subprocess.run([str(ACTIONLINT), str(broken)], capture_output=True, timeout=120).returncode == 1
