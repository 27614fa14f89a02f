"""The master file and its one-offs as a git revision has them.

For the plan of a change (a pull request), `git show REF:PATH` reads a file without touching the
working tree, so the base branch's file is read in the same checkout the head is built from. For a
deploy a workflow triggers after a merge, `require_files_at` proves the worker's checkout holds that
commit's files before anything connects. A revision that is not there (a shallow clone, a branch
never fetched) is a ConfigError saying how to fetch it, never git's own stderr alone.
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
    root = _toplevel(start)
    if root is None:
        raise ConfigError(
            f"{start} is not inside a git working tree, so --base-ref has nothing to read from",
            hint="run it in a clone of the repository, or pass --from-file BASE --to-file HEAD",
        )
    return root


def resolve_revision(root: Path, ref: str) -> str:
    """The commit `ref` names in the repository at `root`; ConfigError naming the ref when none."""
    commit = _commit(root, ref)
    if commit is None:
        raise ConfigError(f"--base-ref {ref!r} names no commit in {root}", hint=FETCH_HINT)
    return commit


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


def require_files_at(revision: str, paths: list[Path]) -> str:
    """Refuse unless every file under `paths` (the master file, the one-offs' folder) is as `revision`
    has it: none changed, missing or added. Returns the commit `revision` names.

    A deploy triggered for a merged commit runs on a worker whose checkout someone must update; a
    stale one would deploy another schema while the run says it deployed that commit's.
    """
    root = _deploy_root(paths[0])
    commit = _commit(root, revision)
    if commit is None:
        raise ConfigError(
            f"the worker's checkout at {root} does not have commit {revision[:12]!r}; nothing was changed",
            hint=f"fetch and check it out on the worker (git -C {root} fetch && git -C {root} checkout "
            f"{revision[:12]}), then trigger the run again",
        )
    outside = [str(p) for p in paths if not p.resolve().is_relative_to(root)]
    if outside:
        raise ConfigError(
            f"{', '.join(outside)} is outside the worker's checkout at {root}, so the worker cannot show "
            f"it holds {revision[:12]}'s files; nothing was changed",
            hint="keep the master file and migrations_dir inside the repository's clone",
        )
    relative = [str(p.resolve().relative_to(root)) for p in paths]
    # Content only: a checkout that lost the files' modes (a copy, a volume) holds the same schema.
    changed = _git(root, "-c", "core.fileMode=false", "diff", "--name-only", commit, "--", *relative)
    added = _git(root, "ls-files", "--others", "--exclude-standard", "--", *relative)
    if changed.returncode != 0 or added.returncode != 0:
        raise ConfigError(
            f"cannot compare the worker's files with {revision}: {(changed.stderr or added.stderr).strip()}",
            hint="run the worker from a git clone of the repository",
        )
    differing = sorted({*changed.stdout.split(), *added.stdout.split()})
    if differing:
        raise ConfigError(
            f"the worker's checkout at {root} is not at {revision[:12]}: {len(differing)} file(s) differ "
            f"({', '.join(differing[:5])}{', ...' if len(differing) > 5 else ''}); the run would deploy "
            "another schema than that commit's, so nothing was changed",
            hint=f"update the worker's checkout (git -C {root} fetch && git -C {root} checkout "
            f"{revision[:12]}) and trigger the run again",
        )
    return commit


def _deploy_root(start: Path) -> Path:
    folder = start if start.is_dir() else start.parent
    root = _toplevel(folder)
    if root is None:
        raise ConfigError(
            f"a revision to deploy was given, but {folder} is not inside a git working tree, so the "
            "worker cannot show it holds that revision's files; nothing was changed",
            hint="run the worker from a git clone of the repository, or trigger the run without a revision",
        )
    return root


def _toplevel(start: Path) -> Path | None:
    done = _git(start, "rev-parse", "--show-toplevel")
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else None


def _commit(root: Path, ref: str) -> str | None:
    if not ref.strip() or ref.startswith("-"):
        return None  # never an option to git
    done = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    return done.stdout.strip() if done.returncode == 0 else None


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
