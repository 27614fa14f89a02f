"""A deploy triggered for a commit runs only on a worker whose files are that commit's.

The staging workflow passes the merged commit as `revision`; a worker whose checkout is stale (or has
an extra one-off lying around) would otherwise deploy another schema and report the commit's.
Real git repositories in tmp_path; the flow-level refusal is in tests/flows/test_migrate_flow.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from db.errors import ConfigError
from db.schema.git_revision import require_files_at

MASTER = "99999999999999_master_schema.sql"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(root: Path) -> tuple[Path, Path]:
    """A repository with db/migrations/<master> committed; (the master file, the folder)."""
    folder = root / "db" / "migrations"
    folder.mkdir(parents=True)
    master = folder / MASTER
    master.write_text("CREATE TABLE IF NOT EXISTS public.t (a int);\n")
    git(root, "init", "-q")
    git(root, "-c", "user.email=t@e", "-c", "user.name=t", "add", ".")
    git(root, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "-m", "base")
    return master, folder


def commit_all(root: Path, message: str) -> str:
    git(root, "add", ".")
    git(root, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def test_the_checkout_at_the_revision_passes_and_names_its_commit(tmp_path: Path) -> None:
    master, folder = make_repo(tmp_path)
    head = git(tmp_path, "rev-parse", "HEAD")
    assert require_files_at(head, [master, folder]) == head
    assert require_files_at(head[:12], [master, folder]) == head  # a short SHA names the same commit
    master.chmod(0o600)  # a copy that lost the files' modes holds the same schema
    assert require_files_at(head, [master, folder]) == head


def test_a_stale_checkout_is_refused_naming_the_file_that_differs(tmp_path: Path) -> None:
    master, folder = make_repo(tmp_path)
    old = git(tmp_path, "rev-parse", "HEAD")
    master.write_text("CREATE TABLE IF NOT EXISTS public.t (a int, b text);\n")
    new = commit_all(tmp_path, "add b")
    git(tmp_path, "checkout", "-q", old)  # the worker never pulled the merge
    with pytest.raises(
        ConfigError, match=rf"not at {new[:12]}: 1 file\(s\) differ \(db/migrations/{MASTER}\)"
    ) as err:
        require_files_at(new, [master, folder])
    assert "nothing was changed" in err.value.message and f"checkout {new[:12]}" in (err.value.hint or "")


def test_an_uncommitted_edit_or_an_extra_one_off_on_the_worker_is_refused(tmp_path: Path) -> None:
    master, folder = make_repo(tmp_path)
    head = git(tmp_path, "rev-parse", "HEAD")
    (folder / "20261207120000_rename.sql").write_text("SELECT 1;\n")
    with pytest.raises(ConfigError, match=r"20261207120000_rename\.sql"):
        require_files_at(head, [master, folder])
    (folder / "20261207120000_rename.sql").unlink()
    master.write_text(master.read_text() + "-- edited on the worker\n")
    with pytest.raises(ConfigError, match=re.escape(MASTER)):
        require_files_at(head, [master, folder])


def test_a_commit_the_worker_does_not_have_or_no_git_tree_is_refused_with_what_to_do(tmp_path: Path) -> None:
    master, folder = make_repo(tmp_path / "repo")
    with pytest.raises(ConfigError, match="does not have commit 'f00dfeedf00d'") as err:
        require_files_at("f00dfeedf00d" * 3, [master, folder])
    assert "fetch" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="does not have commit '--help'"):
        require_files_at("--help", [master, folder])  # never an option to git
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / MASTER).write_text("SELECT 1;\n")
    with pytest.raises(ConfigError, match="not inside a git working tree"):
        require_files_at("HEAD", [plain / MASTER, plain])
    with pytest.raises(ConfigError, match=f"{plain} is outside the worker's checkout"):
        require_files_at("HEAD", [master, plain])  # a migrations_dir outside the clone
