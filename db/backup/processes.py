"""Running pg_dump / pg_restore so that they never outlive schemaflow.

A pg_dump left running after its parent was killed keeps a snapshot open on the server (holding back
vacuum), keeps writing a `.partial` folder nobody will rename, and can race the next backup. So:

- On Linux the child asks the kernel for SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG), which
  covers kill -9 of schemaflow, where no Python code runs. It then checks that the parent is still the
  one that started it: a parent that died between fork and prctl would never send the signal.
- The child runs in its own process group, so an interrupt or SIGTERM reaching schemaflow (the
  KeyboardInterrupt / SystemExit it raises) kills the whole group: pg_dump and its --jobs workers.
  The workers are not covered by the death signal (it is not inherited across fork); they exit when
  the leader's pipe closes.

The server sessions of a dead pg_dump end within seconds too (SERVER_OPTIONS), even when blocked.

Secrets: the password reaches the child through PGPASSWORD in its environment, never its command line.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from db.connection.urls import libpq_subprocess_args

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
APPLICATION_NAME = "schemaflow-backup"
# A server session blocked on a lock never writes to its socket, so it would not notice that its
# pg_dump is gone until the lock is granted; PostgreSQL 14+ then checks the socket every 2 s.
SERVER_OPTIONS = "-c client_connection_check_interval=2000"
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None


def run_pg_tool(
    binary: str, args: list[str], url: str, connect_timeout: int
) -> subprocess.CompletedProcess[str]:
    """Run pg_dump/pg_restore `args` against `url`; the child dies with this process."""
    conninfo, secret = libpq_subprocess_args(url)
    env = {
        **os.environ,
        **secret,
        "PGCONNECT_TIMEOUT": str(connect_timeout),
        "PGAPPNAME": APPLICATION_NAME,
        "PGOPTIONS": f"{os.environ.get('PGOPTIONS', '')} {SERVER_OPTIONS}".strip(),
    }
    cmd = [binary, f"--dbname={conninfo}", *args]  # options before the positional archive path
    return run_tied_to_parent(cmd, env)


def run_tied_to_parent(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """subprocess.run(cmd) with captured text output, killed (with its group) if this process goes."""
    # umask: pg_dump creates the files; 0600 from the first byte, not after a chmod.
    child = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        umask=0o077,
        process_group=0,
        preexec_fn=_die_with(os.getpid()),
    )
    try:
        stdout, stderr = child.communicate()
    except BaseException:  # KeyboardInterrupt, SystemExit from a SIGTERM handler, a cancelled task
        kill_group(child)
        raise
    return subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)


def kill_group(child: subprocess.Popen[str]) -> None:
    """SIGKILL the child's process group (it leads one) and reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _die_with(parent: int) -> Callable[[], None] | None:
    if _LIBC is None:
        return None  # not Linux: the process group and the KeyboardInterrupt handler still apply

    def set_death_signal() -> None:  # runs in the child between fork and exec: async-signal-safe only
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)  # the parent died before prctl took effect

    return set_death_signal


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is (a BaseException: no `except Exception` swallows it)."""


class SigtermStop:
    """What stopped_by_sigterm saw: the signal's name once one arrived."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._holding = 0

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A signal arriving in the block is raised only after it (a swap is done whole or not at all)."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if self.signal_name:
            raise Terminated(self.signal_name)

    def hold(self) -> None:
        """From now on a signal is only recorded (the clean-up after a stop must run to its end)."""
        self._holding += 1

    def handle(self, signum: int, _frame: object) -> None:
        self.signal_name = signal.Signals(signum).name
        if not self._holding:
            raise Terminated(self.signal_name)


@contextmanager
def stopped_by_sigterm() -> Iterator[SigtermStop]:
    """While the block runs, SIGTERM raises Terminated in it (killing a running pg_restore's group via
    run_tied_to_parent), so the caller can clean up and say what it stopped; outside the main thread
    (where Python cannot handle signals) nothing changes."""
    stop = SigtermStop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, stop.handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
