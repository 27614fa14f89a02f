"""The warm runner (cli/warm_runner.py): a later migrate runs in a process that has Prefect imported,
with the output, exit code, signals and death of the command it stands in for.

One local Prefect server and one runner for the module, as a person's change loop has: the first
migrate starts the server in the background and leaves the runner behind.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli.prefect_server import stop_local_server
from cli.warm_runner import LOG_NAME, PID_NAME, REPLY_TIMEOUT_S, SOCKET_NAME
from db.local.cluster import LocalCluster, free_port
from tests.conftest import create_database, drop_database
from tests.support.environments import MIGRATE_ENVIRONMENTS

SCHEMAFLOW = str(Path(sys.executable).with_name("schemaflow"))
NOOP = ["migrate", "--env", "dev", "--skip-expectations"]


@dataclass
class Loop:
    state: Path
    env: dict[str, str]

    def run(self, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **extra}
        return subprocess.run([SCHEMAFLOW, *argv], capture_output=True, text=True, timeout=300, env=env)

    def log(self) -> str:
        return (self.state / LOG_NAME).read_text()

    def runner_pid(self) -> int:
        return int((self.state / PID_NAME).read_text())

    def wait_for_runner(self, limit: float = 90.0) -> None:
        deadline = time.monotonic() + limit
        while not (self.state / SOCKET_NAME).exists():
            assert time.monotonic() < deadline, f"no warm runner after {limit} s:\n{self.log()}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, pg_cluster: LocalCluster) -> Iterator[Loop]:
    root = tmp_path_factory.mktemp("warm")
    db_url = create_database(pg_cluster, "warm")
    (root / "environments.toml").write_text(MIGRATE_ENVIRONMENTS.format(root=root))
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "SCHEMAFLOW_PREFECT_SERVER")}
    env.update(
        PREFECT_HOME=str(root / "prefect"),
        SCHEMAFLOW_UI_PORT=str(free_port()),
        SCHEMAFLOW_ENVIRONMENTS=str(root / "environments.toml"),
        SCHEMAFLOW_TEST_URL=db_url,
    )
    state = Loop(root / "prefect", env)
    try:
        first = state.run(*NOOP)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr
        assert "starting the local one in the background" in first.stderr
        state.wait_for_runner()
        yield state
    finally:
        stop_local_server(root / "prefect")
        drop_database(pg_cluster, db_url)


def _comparable(report: str) -> list[str]:
    """The report without what differs between two runs: run names, times, history ids, durations."""
    report = re.sub(r"migrate-dev-[\w.-]+", "RUN", report)
    report = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "TIME", report)
    report = re.sub(r"\d+\.\d+", "N", report)  # durations, folded or not
    report = re.sub(r"history id \d+", "history id N", report)
    return report.splitlines()


def test_a_later_migrate_runs_warm_with_the_cold_commands_output_and_exit_codes(loop: Loop) -> None:
    mode = stat.S_IMODE((loop.state / SOCKET_NAME).stat().st_mode)
    assert mode == 0o600, oct(mode)  # no other user may hand it a command
    clock = time.monotonic()
    warm = loop.run(*NOOP)
    warm_s = time.monotonic() - clock
    clock = time.monotonic()
    cold = loop.run(*NOOP, SCHEMAFLOW_WARM_RUNNER="off")
    cold_s = time.monotonic() - clock
    print(f"\nno-op migrate: warm {warm_s:.2f} s, cold {cold_s:.2f} s")
    assert warm.returncode == cold.returncode == 0, warm.stderr + cold.stderr
    assert _comparable(warm.stdout) == _comparable(cold.stdout)
    assert warm.stderr == cold.stderr
    assert loop.log().count("served caller") == 1, loop.log()  # the cold one did not go there

    # A refusal comes back with its own exit code and message, as from the command itself.
    missing = str(loop.state / "no-such-schema.sql")
    warm = loop.run(*NOOP, "--schema-file", missing)
    cold = loop.run(*NOOP, "--schema-file", missing, SCHEMAFLOW_WARM_RUNNER="off")
    assert warm.returncode == cold.returncode == 2, warm.stderr
    assert warm.stderr == cold.stderr and "no-such-schema.sql" in warm.stderr
    assert re.search(r"served caller \d+ \(migrate --env dev\): exit 2", loop.log()), loop.log()

    # A URL on the command line reaches the command; runner.log names no argument's value, so not a
    # password either, even in a URL too malformed to be masked.
    url = loop.env["SCHEMAFLOW_TEST_URL"]
    password = url.split("//", 1)[1].split("@", 1)[0].split(":", 1)[1]
    given = loop.run(*NOOP, f"--database-url={url}")
    assert given.returncode == 0, given.stderr
    mistyped = loop.run(*NOOP, "--database-url", "postgres//u:SEKRETx1@127.0.0.1:1/db")
    assert mistyped.returncode == 2 and "SEKRETx1" not in mistyped.stderr, mistyped.stderr
    assert loop.log().count("served caller") == 4, loop.log()
    assert password not in loop.log() and "SEKRETx1" not in loop.log()


def _history_rows(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM schemaflow.migration_history").fetchone()
    return int(row[0]) if row else 0


def test_a_runner_too_slow_to_answer_leaves_the_command_to_the_caller_and_never_runs_it_too(
    loop: Loop,
) -> None:
    """The caller gives up after REPLY_TIMEOUT_S and runs the command itself: exactly once in all."""
    url = loop.env["SCHEMAFLOW_TEST_URL"]
    before = _history_rows(url)
    runner = loop.runner_pid()
    os.kill(runner, signal.SIGSTOP)
    try:
        caller = _migrate_in_background(loop)
        time.sleep(REPLY_TIMEOUT_S + 2)  # the caller has given up waiting: the runner wakes to a gone caller
    finally:
        os.kill(runner, signal.SIGCONT)
    out, err = caller.communicate(timeout=300)
    assert caller.returncode == 0, err
    time.sleep(3)  # what the woken runner would start, it would have started by now
    assert out.count("done in") == 1 and _history_rows(url) == before + 1, out
    assert f"served caller {caller.pid}" not in loop.log(), loop.log()


def _command_child(runner: int) -> int:
    """The PID of the process running a handed-over command: the runner's grandchild."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for supervisor in Path(f"/proc/{runner}/task/{runner}/children").read_text().split():
            children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.05)
    raise AssertionError("the runner started no command")


def _migrate_in_background(loop: Loop, url: str | None = None, **popen: Any) -> subprocess.Popen[str]:
    """A caller running migrate on `url` (a fresh database: it builds the schema, for seconds)."""
    env = {**loop.env, "SCHEMAFLOW_TEST_URL": url} if url else loop.env
    return subprocess.Popen(
        [SCHEMAFLOW, *NOOP], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **popen
    )


def _gone(pid: int, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_ctrl_z_stops_the_command_with_its_caller_and_fg_continues_both(
    loop: Loop, pg_cluster: LocalCluster
) -> None:
    url = create_database(pg_cluster, "warmstop")
    try:
        # Its own process group, with pytest in another: a shell's job. In an orphaned group (as under
        # a detached CI run) the kernel discards a stop, for a cold command just the same.
        caller = _migrate_in_background(loop, url, process_group=0)
        child = _command_child(loop.runner_pid())
        time.sleep(1.0)
        caller.send_signal(signal.SIGTSTP)
        time.sleep(1.0)
        assert (_state(caller.pid), _state(child)) == ("T", "T")  # both stopped, as one process would be
        caller.send_signal(signal.SIGCONT)
        time.sleep(1.0)
        assert _state(child) != "T"
        _out, err = caller.communicate(timeout=300)
        assert caller.returncode == 0, err
    finally:
        drop_database(pg_cluster, url)


def test_ctrl_c_reaches_the_command_and_a_killed_caller_takes_it_down(
    loop: Loop, pg_cluster: LocalCluster
) -> None:
    """Each on a fresh database, where migrate builds the whole schema (seconds): signals land mid-run."""
    for signum, expected in ((signal.SIGINT, 130), (signal.SIGKILL, -signal.SIGKILL)):
        url = create_database(pg_cluster, "warmsig")
        try:
            caller = _migrate_in_background(loop, url)
            child = _command_child(loop.runner_pid())
            time.sleep(1.5)
            caller.send_signal(signum)
            _out, err = caller.communicate(timeout=120)
            assert caller.returncode == expected, err
            assert _gone(child), f"the command's process {child} outlived its caller ({signum.name})"
            if signum == signal.SIGINT:
                assert "interrupted" in err, err
            else:  # the supervisor writes its line just after reaping the child: wait for it
                said = f"caller {caller.pid} (migrate --env dev) died: its command was killed"
                deadline = time.monotonic() + 10
                while said not in loop.log() and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert said in loop.log(), loop.log()
        finally:
            drop_database(pg_cluster, url)


def test_a_killed_supervisor_takes_the_command_down_and_the_caller_says_so(
    loop: Loop, pg_cluster: LocalCluster
) -> None:
    """No command runs on unseen: with its supervisor gone, nobody could stop it or hear its end."""
    url = create_database(pg_cluster, "warmsup")
    try:
        caller = _migrate_in_background(loop, url)
        child = _command_child(loop.runner_pid())
        supervisor = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
        time.sleep(1.5)
        os.kill(supervisor, signal.SIGKILL)
        _out, err = caller.communicate(timeout=60)
        assert caller.returncode == 1, err
        assert _gone(child, 1.0), f"the command's process {child} outlived its supervisor"
        assert f"the command (pid {child}) was stopped with it" in err, err
        assert "schemaflow history" in err, err
        assert _gone(supervisor) and not _gone(loop.runner_pid(), 0.5)  # the runner itself serves on
    finally:
        drop_database(pg_cluster, url)


def test_a_caller_with_other_prefect_settings_runs_cold_and_the_runner_steps_down(loop: Loop) -> None:
    before = loop.runner_pid()
    other = loop.run(*NOOP, PREFECT_LOGGING_LEVEL="WARNING")
    assert other.returncode == 0, other.stderr
    assert _gone(before), "the stale runner still runs"
    assert "fingerprint differs" in loop.log(), loop.log()
    # The cold command left a runner for its own settings, which stop_local_server stops with the server.
    loop.wait_for_runner()
    fresh = loop.runner_pid()
    assert fresh != before
    stop_local_server(loop.state)
    assert _gone(fresh), "the runner outlived the server stop"
    assert not (loop.state / SOCKET_NAME).exists()
