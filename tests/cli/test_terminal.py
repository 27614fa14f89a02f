"""What a person sees: a long migrate in a real terminal (tmux, 80 columns) shows live progress while
it runs and nothing wider than the terminal; the same command piped to a file has no escape code.

200k seeded events make the backup (pg_dump) and the GX suites take seconds, long enough to catch a
live line in a pane captured mid-run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from db.deploy.apply import apply_master_schema
from db.local.cluster import LocalCluster
from db.local.seed import refresh_metrics_daily, seed_database
from tests.conftest import create_database, drop_database
from tests.support.environments import MIGRATE_ENVIRONMENTS

SCHEMAFLOW = Path(sys.executable).parent / "schemaflow"
EVENTS = 200_000
WIDTH = 80
# A live line: rich's spinner column, a step, and the elapsed-time column (0:00:03).
LIVE_LINE = re.compile(r"(preflight|backup|pg_dump|apply|verify|prefect)\b.*\d:\d\d:\d\d\s*$")


@pytest.fixture(scope="module")
def seeded(pg_cluster: LocalCluster) -> Iterator[str]:
    url = create_database(pg_cluster, "term")
    apply_master_schema(url)
    seed_database(url, tenants=2, events=EVENTS, days=7, workers=2)
    with psycopg.connect(url, autocommit=True) as conn:
        refresh_metrics_daily(conn)
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture
def run_env(seeded: str, tmp_path: Path, prefect_harness: None) -> dict[str, str]:
    """The command's environment: the test environments file, the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    path = tmp_path / "environments.toml"
    path.write_text(MIGRATE_ENVIRONMENTS.format(root=tmp_path))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "SKIP_CONFIRMATION", "COLUMNS")}
    env.update(
        SCHEMAFLOW_ENVIRONMENTS=str(path),
        SCHEMAFLOW_TEST_URL=seeded,
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        TERM="xterm-256color",
    )
    return env


def migrate_command() -> list[str]:
    return [str(SCHEMAFLOW), "migrate", "--env", "production", "--yes"]


def test_long_migrate_shows_progress_in_a_terminal(run_env: dict[str, str], tmp_path: Path) -> None:
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed (scripts/setup-system.sh installs it)")
    socket = f"sf-test-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    done = tmp_path / "exit-code"
    script = tmp_path / "run.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in run_env.items())
    script.write_text(
        f"{exports}{shlex.join(migrate_command())}\necho $? > {shlex.quote(str(done))}\nsleep 600\n"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", str(WIDTH), "-y", "40", "bash", str(script)], check=True
    )
    try:
        live: list[str] = []
        deadline = time.monotonic() + 600
        while not done.exists() and time.monotonic() < deadline:
            pane = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
            live += [line for line in pane.splitlines() if LIVE_LINE.search(line)]
            time.sleep(0.25)
        history = subprocess.run(
            [*tmux, "capture-pane", "-p", "-J", "-S", "-"], capture_output=True, text=True
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert done.exists(), "migrate did not finish within 600 s:\n" + history
    assert done.read_text().strip() == "0", history
    print(f"\nlive lines seen mid-run ({len(live)} captures), e.g.: {sorted(set(live))[:8]}")
    assert live, "no live progress line was ever on screen:\n" + history
    assert any("pg_dump" in line or "backup" in line for line in live), live
    # Finished steps stay on screen with their time; the report is rendered, and nothing overflows.
    assert re.search(r"DONE backup: completed \(\d+\.\d s\)", history), history
    assert "outcome: SUCCESS" in history and "outcome: **" not in history, history
    # A task's time runs from the end of the one before it: pg_dump's seconds are inside backup's.
    backup = re.search(r"DONE backup: completed \((\d+\.\d) s\)", history)
    dump = re.search(r"DONE pg_dump: .*\((\d+\.\d) s\)", history)
    assert backup and dump and float(backup[1]) >= float(dump[1]), history
    # Prefect prints its telemetry notice (one long line) once per PREFECT_HOME on a terminal; ours fit.
    wide = [
        line for line in history.splitlines() if len(line.rstrip()) > WIDTH and "DO_NOT_TRACK" not in line
    ]
    assert not wide, wide


def test_the_same_migrate_piped_has_no_escape_code(run_env: dict[str, str], tmp_path: Path) -> None:
    output = tmp_path / "migrate.out"
    with output.open("w") as sink:
        done = subprocess.run(
            migrate_command(), env=run_env, stdout=sink, stderr=subprocess.PIPE, text=True, timeout=600
        )
    text = output.read_text()
    assert done.returncode == 0, text + done.stderr
    assert "\x1b" not in text and "\x1b" not in done.stderr
    assert re.search(r"^DONE backup: completed \(\d+\.\d s\)$", text, re.M), text  # one line per step
    assert "outcome: **SUCCESS**" in text  # piped, the report is its Markdown source


def _in_a_pty(argv: list[str], env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """Run `argv` with stdout on a pseudo-terminal (80 columns); its exit code and all it wrote."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, WIDTH, 0, 0))
    child = subprocess.Popen(argv, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return child.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_seeding_in_a_terminal_shows_rows_per_second(db_url: str) -> None:
    apply_master_schema(db_url)
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    argv = [str(SCHEMAFLOW), "seed-data", "--database-url", db_url, "--tenants", "2", "--events", "100000"]
    code, written = _in_a_pty(argv, env)
    assert code == 0, written
    assert "\x1b[" in written  # a terminal: colour and cursor movement
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", written)  # the words, without the styling
    live = re.findall(r"seed .*?([\d,]+) rows of 100,000 rows, [\d,]+ rows/s", text)
    assert live, text[-2000:]
    assert len(set(live)) > 1, live  # the count moved while it ran (a batch of 25,000 at a time)


def test_no_color_on_a_terminal_writes_no_escape_code() -> None:
    env = {**os.environ, "TERM": "xterm-256color"}
    code, coloured = _in_a_pty([str(SCHEMAFLOW), "lint"], {k: v for k, v in env.items() if k != "NO_COLOR"})
    assert code == 0 and "\x1b[" in coloured and "PASS" in coloured, coloured
    code, plain = _in_a_pty([str(SCHEMAFLOW), "lint"], {**env, "NO_COLOR": "1"})
    assert code == 0 and "\x1b" not in plain and "PASS" in plain, plain
