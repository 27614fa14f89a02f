"""A warm process that runs `migrate` and `rollback` without paying Prefect's imports on every command.

Importing Prefect, the flows and their libraries costs a command about 2 s, and tearing the
interpreter down again about 0.4 s, against 1.5 s for the whole of `schemaflow plan`. So after a
command has run a flow on the local Prefect server (the one started in the background or by
`make ui`), it leaves `python -m cli.warm_runner` behind in PREFECT_HOME. The runner imports all of
that once and listens on PREFECT_HOME/runner.sock (mode 0600, callers of another user refused).

The next such command hands over its arguments, environment, working directory and its own stdin,
stdout and stderr (SCM_RIGHTS). The runner forks a child that runs the command exactly as
`schemaflow` would, on the caller's terminal, and the caller exits with the child's status. Signals
the caller gets (Ctrl-C, SIGTERM, SIGHUP, Ctrl-Z) go on to the child; if the caller dies (kill -9),
the child is killed, as the command itself would have been.

The runner only serves a caller whose fingerprint is its own: the same Python, the same schemaflow
code (change times), the same installed packages, the same Prefect and GX settings in the
environment and the same local server. Any difference, and the caller runs the command itself as
before, and the stale runner exits. The runner also exits when its server stops, after an idle
hour, or on SIGTERM (`make ui-stop` and stop_local_server() send it). SCHEMAFLOW_WARM_RUNNER=off
turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from cli.prefect_server import PROJECT_ROOT, SERVER_MODE_VAR, pid_file_alive, ui_state_dir, wait_until_gone

WARM_COMMANDS = frozenset({"migrate", "rollback"})
SWITCH_VAR = "SCHEMAFLOW_WARM_RUNNER"
IDLE_VAR = "SCHEMAFLOW_WARM_RUNNER_IDLE_S"
DEFAULT_IDLE_S = 3600.0
SOCKET_NAME = "runner.sock"
PID_NAME = "runner.pid"
LOCK_NAME = "runner.lock"
LOG_NAME = "runner.log"
SOURCE_DIRS = ("cli", "flows", "tasks", "db", "expectations")
SCHEMA_FILES = PROJECT_ROOT / "db" / "migrations"
# Read at import time by Prefect (its settings), by db/local/cluster.py or by Python itself: a caller
# whose values differ would get the runner's.
IMPORT_TIME_PREFIXES = ("PREFECT_", "GX_")
IMPORT_TIME_VARS = (SERVER_MODE_VAR, "SCHEMAFLOW_PG_BIN", "PYTHONPATH", "PYTHONHASHSEED", "HOME", "TZ")
# Modules the commands import only while they run (Prefect's engines, fastapi's encoder for the
# run's parameters, graphviz for the flow's visualisation hook, the GX suites): warm too.
WARM_IMPORTS = (
    "cli.main",
    "cli.migrate",
    "cli.rollback",
    "cli.console",
    "flows.migrate",
    "flows.rollback",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.concurrency.sync",
    "prefect.utilities.visualization",
    "fastapi.encoders",
    "pydantic.color",
    "rich._emoji_codes",
    "http.cookies",
    "great_expectations",  # 4 s of its own; the suites run on every migrate unless skipped
    "great_expectations.expectations",
    "sqlalchemy.pool",
)
HEADER = struct.Struct("!I")
POLL_S = 2.0
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 2.0
REPLY_TIMEOUT_S = 10.0  # the runner answers within milliseconds; a hung one must not hang the caller
FORWARDED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)
GO = b"go\n"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

in_worker = False  # set in the forked child: its own main() must not hand over again
_lock = None  # the runner's lock file; a fork closes its copy, or a long deploy would keep it held


def enabled(command: str | None, words: list[str]) -> bool:
    """Whether this command line may be handed to (or leave behind) a warm runner."""
    if in_worker or os.environ.get(SWITCH_VAR, "").lower() in ("0", "off", "false", "no"):
        return False
    return command in WARM_COMMANDS and "--debug" not in words


def fingerprint(environ: dict[str, str] | os._Environ[str]) -> str:
    """What the runner's warm imports depend on; equal for a caller it may serve."""
    state = ui_state_dir()
    settings = {
        k: v for k, v in environ.items() if k.startswith(IMPORT_TIME_PREFIXES) or k in IMPORT_TIME_VARS
    }
    facts = {
        "python": [sys.executable, sys.version],
        "root": str(PROJECT_ROOT),
        "sources": _source_stamp(),
        "packages": _packages_stamp(),
        "settings": sorted(settings.items()),
        "server": [str(state.resolve()), _read(state / "port"), _read(state / "server.pid")],
        "locale": [sys.getfilesystemencoding(), sys.flags.utf8_mode],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _source_stamp() -> list[int]:
    """The newest change time and the count of the code the runner has loaded: .py, and .sql that
    modules read at import. ctime, which any write moves and `touch -d` or `cp -p` cannot set back.
    The schema files (db/migrations) are read per run, so editing them keeps the runner."""
    newest, count = 0, 0
    for name in SOURCE_DIRS:
        for folder, dirs, files in os.walk(PROJECT_ROOT / name):
            dirs[:] = [d for d in dirs if os.path.join(folder, d) != str(SCHEMA_FILES)]
            for file in files:
                if file.endswith((".py", ".sql")):
                    with contextlib.suppress(OSError):  # removed while we walk: the count differs
                        newest = max(newest, os.stat(os.path.join(folder, file)).st_ctime_ns)
                        count += 1
    return [newest, count]


def _packages_stamp() -> list[str]:
    # A package installed, removed or upgraded adds or removes a dist-info folder: the folder's mtime.
    return [f"{path}:{_mtime(path)}" for path in sys.path if path.endswith("-packages")]


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


# ---- the caller's side ------------------------------------------------------------------------


def hand_over(words: list[str]) -> int | None:
    """Run the command in the warm runner; its exit code, or None when no runner takes it (run it here).

    The hand-over is a handshake, so that a command never runs twice: the runner accepts, we answer
    "go", and only then does it start the command. Until our "go" we may still run it here (no
    runner, a refusal, no answer within REPLY_TIMEOUT_S); after it, never.
    """
    path = ui_state_dir() / SOCKET_NAME
    streams = (sys.stdin, sys.stdout, sys.stderr)
    if not path.exists() or any(stream is None for stream in streams):
        return None  # a closed stdin or stdout: the runner could not be handed it
    try:
        request = {
            "fingerprint": fingerprint(os.environ),
            "argv": [sys.argv[0], *words],
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "streams": [[stream.encoding, stream.errors] for stream in streams],
        }
    except OSError:  # the working directory vanished
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    relay = _Relay()
    previous = relay.install()
    try:
        try:
            conn.settimeout(CONNECT_TIMEOUT_S)
            conn.connect(str(path))
            _send_request(conn, request)
            conn.settimeout(REPLY_TIMEOUT_S)
            accepted = _receive_line(conn)
            if accepted is None or not accepted.get("accepted") or relay.pending:
                accepted = None
            else:
                conn.sendall(GO)
        except OSError:  # no runner behind the file (it died), or no answer in time
            accepted = None
        if accepted is None:
            if relay.pending:  # interrupted while asking: nothing started there, nothing here
                print("schemaflow: interrupted; nothing further was done", file=sys.stderr)
                return 128 + relay.pending[0]
            return None  # refused (a stale runner, which exits now) or gone: run it here
        conn.settimeout(None)
        return _follow(conn, relay)
    finally:
        conn.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Relay:
    """Our signals, passed on to the child running the command once its PID is known; Ctrl-Z stops
    the child with us, and `fg` continues both."""

    def __init__(self) -> None:
        self.child: int | None = None
        self.pending: list[int] = []

    def install(self) -> dict[int, Any]:
        previous: dict[int, Any] = {
            signum: signal.signal(signum, self.forward) for signum in FORWARDED_SIGNALS
        }
        previous[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, self.suspend)
        return previous

    def forward(self, signum: int, _frame: object = None) -> None:
        if self.child is None:
            self.pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.child, signum)

    def suspend(self, _signum: int, _frame: object) -> None:
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until the shell continues us
        signal.signal(signal.SIGTSTP, self.suspend)
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signal.SIGCONT)

    def started(self, pid: int) -> None:
        self.child = pid
        for signum in self.pending:
            self.forward(signum)


def _follow(conn: socket.socket, relay: _Relay) -> int:
    """The child's PID, then its status: an exit code, or the signal that ended it, ending us alike."""
    started = _receive_line(conn)
    if started is not None and "pid" in started:
        relay.started(int(started["pid"]))
        ended = _receive_line(conn)
    else:
        ended = None
    if ended is None or "status" not in ended:
        child = relay.child
        if child is None:
            fate = "before the command started"
        elif wait_until_gone(child, 2.0):  # killed with its supervisor, it takes a moment to be reaped
            fate = f"mid-command, and the command (pid {child}) was stopped with it"
        else:
            fate = f"mid-command; the command (pid {child}) still runs, and its end will not be reported"
        print(f"schemaflow: error: the warm runner ended {fate}", file=sys.stderr)
        print(
            "  what to do: `schemaflow history` says which steps committed; see "
            f"{ui_state_dir() / LOG_NAME}; {SWITCH_VAR}=off runs commands without the runner",
            file=sys.stderr,
        )
        return 1
    if ended.get("signal"):  # as the command's own process would have ended, for a caller's wait()
        sys.stdout.flush()
        signal.signal(int(ended["signal"]), signal.SIG_DFL)
        os.kill(os.getpid(), int(ended["signal"]))
    return int(ended["status"])


def _send_request(conn: socket.socket, request: dict) -> None:
    """The request, its three descriptors riding on the first bytes; the rest as the socket takes it."""
    body = json.dumps(request).encode()
    data = HEADER.pack(len(body)) + body
    sent = socket.send_fds(conn, [data], [0, 1, 2])
    conn.sendall(data[sent:])


def _receive_line(conn: socket.socket) -> dict | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return dict(json.loads(data))


def _send_line(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def start_in_background(original_env: dict[str, str]) -> None:
    """After a command ran a flow on the local server: leave a runner for the next one, if none lives."""
    if original_env.get("PREFECT_API_URL") or original_env.get(SERVER_MODE_VAR, "").lower() == "temporary":
        return  # a configured server: not ours to follow, and no PID file tells when it stops
    state = ui_state_dir()
    if not (state / "port").exists() or _runner_alive(state):
        return
    import subprocess

    with open(state / LOG_NAME, "a") as log:
        subprocess.Popen(
            [sys.executable, "-P", "-m", "cli.warm_runner"],  # -P: not the cwd's own cli/ or db/
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=original_env,
            cwd=os.getcwd(),  # a relative PREFECT_HOME names the same folder for the runner as for us
            start_new_session=True,  # not in the terminal's process group: Ctrl-C on a later command is ours
        )


def _runner_alive(state: Path) -> bool:
    import fcntl

    try:
        with open(state / LOCK_NAME, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True  # cannot tell: do not start another
    return False


def stop_runner(state: Path) -> None:
    """SIGTERM the runner under `state`, if one lives (the server it follows is stopping); never a
    process that took a dead runner's PID."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(_read(state / PID_NAME))
        if b"cli.warm_runner" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)


# ---- the runner -------------------------------------------------------------------------------


def serve() -> int:
    """Import everything once, then fork a child per command until idle, stale or told to stop."""
    import fcntl
    import importlib
    import logging
    import threading

    state = ui_state_dir()
    global _lock
    _lock = open(state / LOCK_NAME, "a")  # noqa: SIM115 - held for the runner's life: one per PREFECT_HOME
    try:
        fcntl.flock(_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0
    log = logging.getLogger("schemaflow.warm_runner")  # to runner.log (stderr); not the root logger,
    handler = logging.StreamHandler()  # whose handlers every forked command would inherit
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    original_env = dict(os.environ)
    mine = fingerprint(original_env)
    server_pid = _read(state / "server.pid")
    from cli.prefect_server import ui_server_api

    if not ui_server_api():
        log.info("not serving: no local Prefect server answers in %s", state)
        return 0
    _prepare_environment_as_a_command_would()
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    if threading.active_count() != 1:
        # fork() copies only the calling thread: a lock another thread held stays held in the child.
        log.info("not serving: importing started threads %s", threading.enumerate())
        return 0
    path = state / SOCKET_NAME
    listener = _listen(path)
    socket_inode = path.stat().st_ino
    (state / PID_NAME).write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the per-command supervisors reap themselves
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    idle_limit = float(os.environ.get(IDLE_VAR) or DEFAULT_IDLE_S)
    last_used = time.monotonic()
    log.info("warm runner %d serving %s", os.getpid(), path)
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                idle = time.monotonic() - last_used
                reason = _reason_to_stop(
                    state, path, socket_inode, server_pid, original_env, mine, idle, idle_limit
                )
                if reason:
                    log.info("stopping: %s", reason)
                    return 0
                continue
            last_used = time.monotonic()
            if not _serve_one(conn, listener, mine, log):
                log.info(
                    "stopping: a caller's fingerprint differs (code, packages, settings or server changed)"
                )
                return 0
    finally:
        if _read(state / PID_NAME) == str(os.getpid()):
            (state / PID_NAME).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        # Free the lock now, not after the interpreter's teardown: the cold command that found this
        # runner stale may end first, and must be able to leave the next one.
        _lock.close()


def _prepare_environment_as_a_command_would() -> None:
    """The environment cli/migrate.py gives Prefect (and expectations/context.py gives GX) before
    importing it, so the settings they read at import are the ones a command's own import would read."""
    from cli.prefect_server import prepare_prefect
    from expectations.context import quiet_gx

    quiet_gx()
    prepare_prefect(debug=False)  # a --debug command is never handed over


def _listen(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    old_umask = os.umask(0o177)  # 0600 from the first moment
    try:
        listener.bind(str(staging))
    finally:
        os.umask(old_umask)
    listener.listen(8)
    os.replace(staging, path)  # a caller sees the socket only once the runner is warm
    listener.settimeout(POLL_S)
    return listener


def _reason_to_stop(
    state: Path,
    path: Path,
    socket_inode: int,
    server_pid: str,
    original_env: dict[str, str],
    mine: str,
    idle: float,
    idle_limit: float,
) -> str | None:
    if _read(state / "server.pid") != server_pid or not pid_file_alive(state / "server.pid"):
        return "the Prefect server it followed stopped"
    if idle > idle_limit:
        return f"idle for {idle:.0f} s"
    try:
        if path.stat().st_ino != socket_inode:
            return "its socket was replaced"
    except OSError:
        return "its socket was removed"
    if fingerprint(original_env) != mine:
        return "schemaflow's code or packages changed"
    return None


def _serve_one(conn: socket.socket, listener: socket.socket, mine: str, log) -> bool:  # type: ignore[no-untyped-def]
    """Take one caller; False when it showed that this runner is stale."""
    fds: list[int] = []
    try:
        conn.settimeout(REQUEST_TIMEOUT_S)  # a caller that connects and says nothing holds up the next
        caller, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != os.getuid():
            log.info("refused a caller of uid %d", uid)
            return True
        request, fds = _receive_request(conn)
        if request.get("fingerprint") != mine or len(fds) != 3:
            _send_line(conn, {"refused": "stale"})
            return False
        if os.fork() == 0:
            listener.close()
            _supervise(conn, fds, request, caller, log)  # never returns
        return True
    except (OSError, ValueError) as exc:
        log.info("dropped a caller: %s", exc)
        return True
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()


def _receive_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    if len(data) < HEADER.size:
        raise ValueError("short request")
    (length,) = HEADER.unpack(data[: HEADER.size])
    body = data[HEADER.size :]
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise ValueError("request cut short")
        body += chunk
    return dict(json.loads(body)), list(fds)


def _supervise(conn: socket.socket, fds: list[int], request: dict, caller: int, log) -> None:  # type: ignore[no-untyped-def]
    """In the fork: accept, wait for the caller's "go", start the command's child, report its PID and
    then its status.

    No "go" (the caller gave up waiting and runs the command itself), and nothing starts. The
    caller's connection closing after that means the caller died: the child is killed, as the
    command would have been with it.
    """
    import select

    started = time.monotonic()
    os.setsid()  # out of the runner's process group: stopping the runner does not end a running deploy
    if _lock is not None:
        _lock.close()  # its flock stays with the runner alone
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    words = _loggable(request.get("argv", []))
    child = 0
    try:
        _send_line(conn, {"accepted": True})
        conn.settimeout(REPLY_TIMEOUT_S)
        if conn.recv(len(GO)) != GO:
            os._exit(0)
        supervisor = os.getpid()
        child = os.fork()
        if child == 0:
            conn.close()
            _die_with(supervisor)
            _run_command(fds, request)  # never returns
        for fd in fds:
            os.close(fd)
        conn.settimeout(None)
        _send_line(conn, {"pid": child})
        watch = os.pidfd_open(child)
        while True:
            ready, _, _ = select.select([watch, conn.fileno()], [], [])
            if watch in ready:
                _, status = os.waitpid(child, 0)
                child = 0
                code = os.waitstatus_to_exitcode(status)
                killed = -code if code < 0 else None
                code = 128 + killed if killed else code  # as a shell reports a death by signal N
                _send_line(conn, {"status": code, "signal": killed})
                took = time.monotonic() - started
                log.info("served caller %d (%s): exit %d in %.2f s", caller, words, code, took)
                break
            if not conn.recv(1):  # the caller is gone
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                child = 0
                log.info("caller %d (%s) died: its command was killed", caller, words)
                break
    except BaseException as exc:  # a fork never returns into the runner's loop
        if child:  # the caller can no longer be told: the command must not run on unseen
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
        log.info("caller %d (%s): %s", caller, words, exc)
    os._exit(0)


def _die_with(parent: int) -> None:
    """In the command's child: be killed when the supervisor dies (PR_SET_PDEATHSIG), as when the caller
    dies, so that no command runs on that nobody can see, interrupt or hear the end of."""
    import ctypes

    with contextlib.suppress(Exception):  # never climb into the supervisor's code; run as before
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above: nothing is watching
        os._exit(128 + signal.SIGKILL)


def _loggable(argv: list[str]) -> str:
    """The command and its environment's name for runner.log: never an argument's value (a URL)."""
    command = next((word for word in argv[1:] if not word.startswith("-")), "")
    named = [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "--env"]
    named += [word.split("=", 1)[1] for word in argv if word.startswith("--env=")]
    return f"{command} --env {named[0]}" if named else command


def _run_command(fds: list[int], request: dict) -> None:
    """In the command's child: become the caller's process (streams, directory, environment), run it.

    Every failure, the set-up's included, ends this process with a non-zero status: an exception must
    not climb back into the supervisor's code, which would report 0 for a command that never ran.
    """
    global in_worker
    in_worker = True
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        (in_enc, in_err), (out_enc, out_err), (err_enc, err_err) = request["streams"]
        sys.stdin = open(0, encoding=in_enc, errors=in_err, closefd=False)  # noqa: SIM115
        sys.stdout = open(  # noqa: SIM115
            1, "w", encoding=out_enc, errors=out_err, closefd=False, buffering=1 if os.isatty(1) else -1
        )
        sys.stderr = open(2, "w", encoding=err_enc, errors=err_err, closefd=False, buffering=1)  # noqa: SIM115
        sys.argv = list(request["argv"])
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        from cli.main import main

        code = int(main() or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print("schemaflow: interrupted; nothing further was done", file=sys.stderr)
        code = 130
    except BaseException as exc:  # say it on the caller's stderr, never lose it
        print(f"schemaflow: error: the warm runner could not run the command: {exc}", file=sys.stderr)
        print(f"  what to do: run it again with {SWITCH_VAR}=off", file=sys.stderr)
        code = 1
    finally:
        _finish(code)


def _finish(code: int) -> None:
    """Send Prefect's queued run logs and events, then end without the interpreter's teardown (~0.4 s)."""
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)
        EventsWorker.drain_all(timeout=5)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError):
                stream.flush()
        os._exit(code)


if __name__ == "__main__":
    # Through the imported module, not this __main__ copy: the forked child's cli.main must see the
    # same `in_worker` the child sets.
    import cli.warm_runner

    sys.exit(cli.warm_runner.serve())
