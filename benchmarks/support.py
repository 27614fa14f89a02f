"""What the benchmarks share: a throwaway PostgreSQL 15 + TimescaleDB cluster of their own."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from db.local.cluster import LocalCluster, free_port


@contextmanager
def throwaway_cluster(name: str) -> Iterator[LocalCluster]:
    """A started cluster (TimescaleDB preloaded, its default database created), destroyed afterwards."""
    base = Path(tempfile.mkdtemp(prefix=f"schemaflow-bench-{name}-"))
    base.chmod(0o755)  # the server runs as the postgres OS user when benchmarks run as root
    cluster = LocalCluster(datadir=base / "pgdata", port=free_port(), preload_timescaledb=True)
    cluster.start()
    try:
        cluster.ensure_database()
        yield cluster
    finally:
        cluster.destroy()
