"""Benchmark: the everyday change loop's commands, each against a baseline timed in the same run.

Run by hand: `.venv/bin/python benchmarks/bench_cli.py [--runs N]`. Starts its own throwaway
PostgreSQL 15 + TimescaleDB cluster and a private PREFECT_HOME (no PREFECT_API_URL), then times the
installed `schemaflow` console script (median of N runs):
- `schemaflow --version` against `python -c pass` (goal <= 5x);
- a no-op `migrate --skip-expectations` (the second and later: the first one built the database,
  started the local Prefect server in the background and left the warm runner, cli/warm_runner.py)
  against `schemaflow plan` on the same database (goal <= 2x); the same with the runner switched off
  (SCHEMAFLOW_WARM_RUNNER=off), for what the runner saves;
- a no-op `migrate` with the GX suites against the same without them (the suites' cost, printed).
The background server it started is stopped at the end, by the PID file it wrote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.prefect_server import stop_local_server
from cli.warm_runner import SOCKET_NAME
from db.local.cluster import LocalCluster, free_port

BIN = Path(sys.executable).parent
ENVIRONMENTS = """
[environments.bench]
database_url_env = "SCHEMAFLOW_BENCH_URL"
allow_insecure = true
require_backup = false
timescaledb = "required"
backup_dir = "{root}/backups"
report_log = "{root}/migrate-bench.log"
"""


def run(argv: list[str], env: dict[str, str], codes: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode not in codes:
        raise SystemExit(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return seconds


def timed(
    label: str, runs: int, argv: list[str], env: dict[str, str], codes: tuple[int, ...] = (0,)
) -> float:
    samples = [run(argv, env, codes) for _ in range(runs)]
    median = statistics.median(samples)
    print(f"  {label:<58} median {median:7.3f} s  (runs: {', '.join(f'{s:.2f}' for s in samples)})")
    return median


def wait_for_runner(state: Path, limit: float = 60.0) -> float:
    """Seconds until the runner the first migrate left behind listens (it imports for ~2 s)."""
    started = time.perf_counter()
    while not (state / SOCKET_NAME).exists():
        if time.perf_counter() - started > limit:
            raise SystemExit(f"no warm runner after {limit:.0f} s: see {state / 'runner.log'}")
        time.sleep(0.1)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="schemaflow-bench-cli-"))
    base.chmod(0o755)
    state = base / "prefect"
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        cluster.ensure_database()
        envfile = base / "environments.toml"
        envfile.write_text(ENVIRONMENTS.format(root=base))
        env = {
            k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "SCHEMAFLOW_PREFECT_SERVER")
        }
        env.update(
            PREFECT_HOME=str(state),
            SCHEMAFLOW_ENVIRONMENTS=str(envfile),
            SCHEMAFLOW_BENCH_URL=cluster.url(),
            SCHEMAFLOW_UI_PORT=str(free_port()),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        sf = str(BIN / "schemaflow")
        migrate = [sf, "migrate", "--env", "bench"]
        print(f"schemaflow's everyday commands ({args.runs} runs each)")
        python = timed("python -c pass (baseline)", args.runs, [sys.executable, "-c", "pass"], env)
        version = timed("schemaflow --version", args.runs, [sf, "--version"], env)
        timed("schemaflow --help", args.runs, [sf, "--help"], env)
        first = run([*migrate, "--skip-expectations"], env)
        print(f"  {'first migrate (builds the schema, starts the server)':<58} {first:14.3f} s")
        # Before any baseline: the runner's imports in the background would slow `plan` too.
        waited = wait_for_runner(state)
        print(f"  {'then the warm runner it left is ready after':<58} {waited:14.3f} s")
        plan = timed(
            "schemaflow plan (baseline)", args.runs, [sf, "plan", "--env", "bench"], env, codes=(0, 1)
        )
        noop = timed(
            "migrate --skip-expectations (no-op, server and runner up)",
            args.runs,
            [*migrate, "--skip-expectations"],
            env,
        )
        cold = timed(
            "the same, SCHEMAFLOW_WARM_RUNNER=off",
            args.runs,
            [*migrate, "--skip-expectations"],
            {**env, "SCHEMAFLOW_WARM_RUNNER": "off"},
        )
        with_gx = timed("migrate with the GX suites (no-op)", args.runs, migrate, env)
        print(f"--version / python -c pass: {version / python:.2f}x (goal <= 5x)")
        print(f"no-op migrate / plan: {noop / plan:.2f}x (goal <= 2x)")
        print(f"no-op migrate without the warm runner / plan: {cold / plan:.2f}x")
        print(f"GX suites: +{with_gx - noop:.2f} s ({with_gx / noop:.2f}x the migrate without them)")
    finally:
        stop_local_server(state)
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
