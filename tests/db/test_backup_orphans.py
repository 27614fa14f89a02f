"""No orphans: a killed `schemaflow backup` leaves no pg_dump behind, and its `.partial` goes next time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from db.backup.dump import backup_database
from db.backup.partials import LOCKLESS_STALE_SECONDS, claimed, lock_path, remove_stale_partials
from db.backup.processes import APPLICATION_NAME
from db.connection.environments import get_environment
from db.local.cluster import LocalCluster
from db.local.seed import seed_database
from db.schema.master_file import read_schema
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = """
[environments.orphans]
database_url_env = "SCHEMAFLOW_ORPHAN_URL"
allow_insecure = true
backup_dir = "{backups}"
keep_backups = 3
"""


def processes_matching(needle: str) -> list[int]:
    """Live pids whose command line contains `needle` (zombies, already dead, excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


@pytest.fixture(scope="module")
def big_database(pg_cluster: LocalCluster) -> Iterator[str]:
    """The master schema with 150k seeded events: pg_dump of it takes seconds, not milliseconds."""
    url = create_database(pg_cluster, "orphans")
    with psycopg.connect(url) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute(read_schema())
    seed_database(url, tenants=3, events=150_000, days=20, seed=11)
    yield url
    drop_database(pg_cluster, url)


def test_kill_9_mid_backup_leaves_no_pg_dump_and_the_next_backup_sweeps_the_partial(
    big_database: str, tmp_path: Path, pg_cluster: LocalCluster
) -> None:
    backups = tmp_path / "backups"
    envfile = tmp_path / "environments.toml"
    envfile.write_text(ENVIRONMENTS.format(backups=backups))
    env_vars = {**os.environ, "SCHEMAFLOW_ENVIRONMENTS": str(envfile), "SCHEMAFLOW_ORPHAN_URL": big_database}

    started = time.monotonic()
    cli = subprocess.Popen(
        [sys.executable, "-m", "cli", "backup", "--env", "orphans"],
        cwd=ROOT,
        env=env_vars,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    # Mid-dump: pg_dump is running and has written data files into the .partial folder.
    def dumping() -> bool:
        partials = list(backups.glob("*.partial"))
        return bool(
            partials and processes_matching(str(backups)) and len(list(partials[0].glob("*.gz"))) >= 3
        )

    assert wait_for(dumping, 60), f"pg_dump never got going: {cli.communicate(timeout=30)}"
    dumps = processes_matching(str(backups))
    assert dumps, "no pg_dump found"
    cli.send_signal(signal.SIGKILL)
    cli.wait(timeout=10)
    killed_at = time.monotonic()
    print(f"\nkilled schemaflow backup {killed_at - started:.1f} s in, with {len(dumps)} pg_dump process(es)")

    assert wait_for(lambda: not processes_matching(str(backups)), 5), processes_matching(str(backups))
    gone = time.monotonic() - killed_at
    print(f"no pg_dump left {gone:.2f} s after kill -9")
    with psycopg.connect(pg_cluster.url("postgres")) as conn:

        def sessions() -> int:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (APPLICATION_NAME,)
            ).fetchone()
            return int(row[0]) if row else 0

        assert wait_for(lambda: sessions() == 0, 5), sessions()  # the server's side ended too
    leftovers = list(backups.glob("*.partial"))
    assert leftovers, "the killed backup left no .partial to sweep (the test proves nothing)"
    assert not list(backups.glob("*.dumpdir"))  # unfinished, so never given the final name

    env = get_environment("orphans", envfile)
    result = backup_database(big_database, env)
    assert result.stale_removed == leftovers
    assert not list(backups.glob("*.partial")) and not list(backups.glob("*.lock"))
    assert [p.name for p in backups.iterdir()] == [result.path.name]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_killed_backup_whose_pg_dump_would_wait_forever(
    how: signal.Signals, db_url: str, tmp_path: Path
) -> None:
    """pg_dump blocked on a table lock outlives a dead parent forever unless the kernel kills it."""
    backups = tmp_path / "backups"
    envfile = tmp_path / "environments.toml"
    envfile.write_text(ENVIRONMENTS.format(backups=backups))
    env_vars = {**os.environ, "SCHEMAFLOW_ENVIRONMENTS": str(envfile), "SCHEMAFLOW_ORPHAN_URL": db_url}
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE busy (id int)")
    watcher = psycopg.connect(db_url, autocommit=True)  # outside a transaction: fresh statistics each time
    with watcher, psycopg.connect(db_url) as blocker:
        blocker.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")  # held until this block ends
        cli = subprocess.Popen(
            [sys.executable, "-m", "cli", "backup", "--env", "orphans"],
            cwd=ROOT,
            env=env_vars,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def waiting() -> bool:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = %s AND wait_event_type = 'Lock'",
                (APPLICATION_NAME,),
            ).fetchone()
            return bool(row and row[0])

        assert wait_for(waiting, 30), "pg_dump never reached the lock"
        assert processes_matching(str(backups))
        cli.send_signal(how)
        cli.wait(timeout=10)
        assert wait_for(lambda: not processes_matching(str(backups)), 5), processes_matching(str(backups))
        assert wait_for(lambda: not waiting(), 5)
    result = backup_database(db_url, get_environment("orphans", envfile))
    assert len(result.stale_removed) == 1 and not list(backups.glob("*.partial"))


def test_the_sweep_spares_a_live_backup_and_other_environments(tmp_path: Path) -> None:
    backups = tmp_path / "b"
    backups.mkdir()

    def partial(env: str, hours: int) -> Path:
        path = backups / f"{env}-2026010{hours}T000000.000Z.dumpdir.partial"
        path.mkdir()
        (path / "toc.dat").write_bytes(b"x")
        return path

    dead = partial("staging", 1)
    lock_path(dead).write_text("12345\n")  # its writer died: nobody holds the lock
    other_env = partial("production", 2)
    lock_path(other_env).write_text("1\n")
    legacy_fresh = partial("staging", 3)  # no lock file, and written just now: maybe a live old version
    legacy_old = partial("staging", 4)
    old = time.time() - LOCKLESS_STALE_SECONDS - 60
    for p in (legacy_old, legacy_old / "toc.dat"):
        os.utime(p, (old, old))

    live = backups / "staging-20260105T000000.000Z.dumpdir.partial"
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with claimed(live):
            live.mkdir()
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(5)
    try:
        removed = remove_stale_partials(backups, lambda name: name.startswith("staging-"))
    finally:
        release.set()
        thread.join()
    assert removed == [dead, legacy_old]
    assert live.exists() and other_env.exists() and legacy_fresh.exists()
    assert not dead.exists() and not lock_path(dead).exists()
    assert not lock_path(live).exists()  # its writer removed it when it finished


def test_an_interrupt_kills_the_child_and_its_process_group(tmp_path: Path) -> None:
    marker = f"sleep 600.{os.getpid()}"  # unique to this test: sh and both sleeps carry it
    script = (
        "from db.backup.processes import run_tied_to_parent\n"
        f"run_tied_to_parent(['sh', '-c', '{marker} & {marker}; :'])\n"
    )
    # A test run started in the background (`make test &`) inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: give the parent the default a terminal would.
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert wait_for(lambda: len(processes_matching(marker)) >= 3, 10), processes_matching(marker)
    parent.send_signal(signal.SIGINT)  # KeyboardInterrupt in the parent: the whole group must go
    parent.wait(timeout=10)
    assert wait_for(lambda: not processes_matching(marker), 5), processes_matching(marker)
