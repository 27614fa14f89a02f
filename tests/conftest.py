"""Test fixtures: real PostgreSQL 15 + TimescaleDB clusters started by the tests themselves.

- `pg_cluster`: a throwaway cluster with TimescaleDB (Apache build) preloaded, once per session.
- `db_url`: a fresh, empty database on it for each test that asks.
- `plain_cluster` / `plain_db_url`: a cluster without TimescaleDB preloaded (a managed host without it).
- `lane_url`: a fresh database on the PostgreSQL 16, 17 or 18 lane (plain mode) named by the test's
  `lane_url` parameter (tests/support/pg_lanes.py), with that lane's psql and pg_dump first on PATH.
- `tsl_url`: the TSL lane (PGlite WASM), reset before each test; skipped with a printed reason when
  Node or its packages are missing, except in CI where a missing lane is a failure.
- `prefect_harness`: one temporary Prefect server for the whole session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

# Set before Prefect is imported anywhere: offline telemetry otherwise logs errors.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="schemaflow-prefect-home-"))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# A CLI run without a server uses Prefect's per-process one instead of leaving a background server.
os.environ.setdefault("SCHEMAFLOW_PREFECT_SERVER", "temporary")

import psycopg
import pytest
from psycopg import sql

from db.connection.urls import mask_url, with_database
from db.local.cluster import LocalCluster, free_port
from tests.support import pg_lanes
from tests.support.pglite import PgliteServer, lane_unavailable_reason

IN_CI = os.environ.get("CI", "").lower() == "true"


def _make_cluster(tmp_root: Path, preload: bool) -> LocalCluster:
    base = Path(tempfile.mkdtemp(prefix="schemaflow-test-pg-", dir=tmp_root))
    base.chmod(0o755)  # the server runs as the postgres OS user when tests run as root
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=preload)
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """A PostgreSQL 15 cluster with TimescaleDB preloaded, for the whole session."""
    cluster = _make_cluster(Path(tempfile.gettempdir()), preload=True)
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def plain_cluster() -> Iterator[LocalCluster]:
    """A PostgreSQL 15 cluster where TimescaleDB is installed but not preloaded."""
    cluster = _make_cluster(Path(tempfile.gettempdir()), preload=False)
    yield cluster
    cluster.destroy()


def create_database(cluster: LocalCluster, prefix: str = "t") -> str:
    """Create an empty database on `cluster` and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.url(name)


def drop_database(cluster: LocalCluster, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def seeded_url(pg_cluster: LocalCluster) -> Iterator[str]:
    """A copy of the cluster's migrated, seeded template database (dropped afterwards)."""
    from tests.support.seeded import clone_template  # builds the template on first use

    url = clone_template(pg_cluster)
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture
def db_url(pg_cluster: LocalCluster) -> Iterator[str]:
    """A fresh empty database on the TimescaleDB cluster."""
    url = create_database(pg_cluster)
    yield url
    drop_database(pg_cluster, url)


@pytest.fixture
def plain_db_url(plain_cluster: LocalCluster) -> Iterator[str]:
    """A fresh empty database on the cluster without TimescaleDB preloaded."""
    url = create_database(plain_cluster)
    yield url
    drop_database(plain_cluster, url)


@pytest.fixture
def admin_url(pg_cluster: LocalCluster) -> str:
    """The superuser URL of the TimescaleDB cluster's `postgres` database."""
    return with_database(pg_cluster.url("postgres"), "postgres")


@pytest.fixture(scope="session")
def lane_clusters() -> Iterator[dict[str, LocalCluster]]:
    """One cluster per PostgreSQL 16/17/18 lane, started when a test first asks for its lane."""
    clusters: dict[str, LocalCluster] = {}
    yield clusters
    for cluster in clusters.values():
        cluster.destroy()
        shutil.rmtree(cluster.datadir.parent, ignore_errors=True)  # the temp folder start_cluster made


@pytest.fixture
def lane_url(
    request: pytest.FixtureRequest, lane_clusters: dict[str, LocalCluster], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh empty database on the lane `request.param` names (pg16, pg17 or pg18)."""
    lane = str(request.param)
    reason = pg_lanes.unavailable_reason(lane)
    if reason:
        if IN_CI and shutil.which("npm"):
            pytest.fail(f"{lane} lane missing in CI: {reason}")
        print(f"\nSKIP {lane} lane: {reason}")
        pytest.skip(f"{lane} lane: {reason}")
    if lane not in lane_clusters:
        lane_clusters[lane] = pg_lanes.start_cluster(lane)
    # The harnesses run `psql` and `pg_dump` from PATH: PostgreSQL 15's pg_dump refuses a newer server.
    monkeypatch.setenv("PATH", f"{pg_lanes.CLIENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    url = create_database(lane_clusters[lane])
    yield url
    drop_database(lane_clusters[lane], url)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Sum each lane's wall time (its cluster's start falls in its first test's setup)."""
    started = time.monotonic()
    yield
    lane = pg_lanes.lane_of(item.nodeid)
    if lane:
        pg_lanes.LANE_SECONDS[lane] += time.monotonic() - started


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failure's report without a password: pytest prints a failing test's arguments (the test
    clusters' URLs) and its captured output, and a CI log keeps them."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and report.longrepr is not None:
        report.longrepr = mask_url(str(report.longrepr))
        report.sections = [(title, mask_url(text)) for title, text in report.sections]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Per-lane wall time and outcomes, so a lane's cost and its passing pairs show in every run."""
    counts: Counter[tuple[str, str]] = Counter()
    outcomes = ("passed", "failed", "skipped", "xfailed", "error")
    for outcome in outcomes:
        for report in terminalreporter.stats.get(outcome, []):
            lane = pg_lanes.lane_of(getattr(report, "nodeid", ""))
            if lane and getattr(report, "when", "call") in ("call", "setup"):
                if outcome == "passed" and report.when == "setup":
                    continue  # a passed setup is followed by the call's own report
                counts[(lane, outcome)] += 1
    lanes = sorted({lane for lane, _ in counts})
    if not lanes:
        return
    terminalreporter.section("PostgreSQL lanes")
    for lane in lanes:
        said = ", ".join(f"{counts[(lane, o)]} {o}" for o in outcomes)
        label = f"{lane} (pair suites)" if lane == "pg15" else lane
        terminalreporter.write_line(f"{label}: {said}; {pg_lanes.LANE_SECONDS[lane]:.1f} s wall")


@pytest.fixture(scope="session")
def pglite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgliteServer]:
    """The TSL lane's server, started once; skipped (with its reason) where it cannot run."""
    reason = lane_unavailable_reason()
    if reason:
        if IN_CI and shutil.which("node"):
            pytest.fail(f"TSL lane missing in CI: {reason}")
        print(f"\nSKIP TSL lane: {reason}")
        pytest.skip(reason)
    server = PgliteServer(free_port(), tmp_path_factory.mktemp("pglite") / "pglite.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tsl_url(pglite_server: PgliteServer) -> str:
    """The TSL lane's only database, emptied before the test."""
    pglite_server.reset()
    return pglite_server.url


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server (SQLite) for every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
