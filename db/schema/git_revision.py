"""The master file and its one-offs as a git revision has them, for the plan of a change (a pull request).

`git show REF:PATH` reads a file without touching the working tree, so the base branch's file is
read in the same checkout the head is built from. A revision that is not there (a shallow clone, a
branch never fetched) is a ConfigError saying how to fetch it, never git's own stderr alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from db.errors import ConfigError
from db.versions.files import FILE_NAME, MigrationFile, discover_migrations

GIT_TIMEOUT = 60
FETCH_HINT = (
    "fetch it first (git fetch origin main; in GitHub Actions, actions/checkout with fetch-depth: 0), "
    "or pass --from-file BASE instead"
)


def repository_root(start: Path) -> Path:
    """The top folder of the git working tree holding `start`; ConfigError when there is none."""
    done = _git(start, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise ConfigError(
            f"{start} is not inside a git working tree, so --base-ref has nothing to read from",
            hint="run it in a clone of the repository, or pass --from-file BASE --to-file HEAD",
        )
    return Path(done.stdout.strip())


def resolve_revision(root: Path, ref: str) -> str:
    """The commit `ref` names in the repository at `root`; ConfigError naming the ref when none."""
    if not ref.strip() or ref.startswith("-"):
        raise ConfigError(f"--base-ref {ref!r} is not a git revision", hint=FETCH_HINT)
    done = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise ConfigError(f"--base-ref {ref!r} names no commit in {root}", hint=FETCH_HINT)
    return done.stdout.strip()


def read_at_revision(root: Path, commit: str, path: str, ref: str) -> str:
    """The text of `path` (relative to the repository's top) at `commit`."""
    done = _git(root, "show", f"{commit}:{_posix(path)}")
    if done.returncode != 0:
        raise ConfigError(
            f"{path} does not exist at {ref}",
            hint="pass --schema-path with the master file's path at the base revision (relative to the "
            "repository's top), or --from-file BASE",
        )
    return done.stdout


def migrations_at_revision(root: Path, commit: str, folder: str, into: Path) -> list[MigrationFile]:
    """The one-off files of `folder` at `commit`, written to `into` and read the way migrate reads them."""
    done = _git(root, "ls-tree", "--name-only", commit, f"{_posix(folder).rstrip('/')}/")
    if done.returncode != 0:
        return []  # the folder did not exist at the base: every one-off of the head is new
    for name in done.stdout.splitlines():
        base = PurePosixPath(name).name
        match = FILE_NAME.match(base)
        if match:
            (into / base).write_text(read_at_revision(root, commit, name, commit[:12]), encoding="utf-8")
    return discover_migrations(into)


def _posix(path: str) -> str:
    return str(PurePosixPath(Path(path).as_posix())).lstrip("/")


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise ConfigError(
            "git is not installed", hint="install git, or pass --from-file BASE --to-file HEAD"
        ) from None
