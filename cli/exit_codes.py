"""The exit codes every `schemaflow` command shares: one table, shown in `--help` and the README.

db/errors.py gives each error kind its code (`exit_code`); tests/cli/test_exit_codes.py checks that
every one of them is in this table, so a script can rely on it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    NOT_RUNNING = 3
    INTERRUPTED = 130
    TERMINATED = 143


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success: the checks passed, no drift, an empty plan, the work was done",
    ExitCode.FAILED: (
        "a check failed or something was found: health or verification failed, drift, a plan with "
        "steps, lint findings, `secrets list` with a Secret block missing, a migrate, backup or restore "
        "that failed (a failed apply is rolled back)"
    ),
    ExitCode.USAGE: (
        "bad arguments or configuration (environments.toml, a connection string, the TLS rule), a "
        "schema file that does not parse or does not apply to an empty scratch database, a "
        "database or Prefect server that cannot be reached, a Secret block that cannot be read"
    ),
    ExitCode.NOT_RUNNING: "`local-db status`: the local database is not running",
    ExitCode.INTERRUPTED: "interrupted with Ctrl-C (SIGINT); nothing further was done",
    ExitCode.TERMINATED: "stopped by SIGTERM: the running statement was cancelled and rolled back",
}


def epilog() -> str:
    """The table as `--help` prints it (argparse's RawDescriptionHelpFormatter keeps the lines)."""
    import textwrap

    lines = ["exit codes:"]
    for code, meaning in MEANINGS.items():
        wrapped = textwrap.wrap(meaning, width=66) or [""]
        lines.append(f"  {int(code):>3}  {wrapped[0]}")
        lines += [f"       {more}" for more in wrapped[1:]]
    return "\n".join(lines)


def markdown_table() -> str:
    """The table as the README shows it (tests/cli/test_exit_codes.py compares the two)."""
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| {int(code)} | {meaning} |" for code, meaning in MEANINGS.items()]
    return "\n".join(rows)
