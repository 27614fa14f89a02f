"""The project's own embedded cluster: where it lives, its port, and whether pgBackRest archives its WAL.

The one place that puts db/local/cluster.py and db/backup/pgbackrest.py together, so that neither of
those imports the other: pgBackRest needs the cluster's server user, and the project's cluster needs
pgBackRest's archive command when SCHEMAFLOW_LOCAL_PGBACKREST is set.
"""

from __future__ import annotations

import os
from pathlib import Path

from db.backup.pgbackrest import configure_local_repository
from db.errors import LocalClusterError
from db.local.cluster import DEFAULT_PORT, LocalCluster


def project_cluster(root: Path) -> LocalCluster:
    """The project's embedded cluster: `.local/pgdata` under `root`, port from SCHEMAFLOW_LOCAL_PORT."""
    base = Path(os.environ.get("SCHEMAFLOW_LOCAL_DIR", root / ".local"))
    raw_port = os.environ.get("SCHEMAFLOW_LOCAL_PORT", str(DEFAULT_PORT))
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise LocalClusterError(
            f"SCHEMAFLOW_LOCAL_PORT={raw_port!r} is not a TCP port",
            hint=f"set it to a number from 1024 to 65535, or unset it for {DEFAULT_PORT}",
        )
    port = int(raw_port)
    if os.environ.get("SCHEMAFLOW_LOCAL_PGBACKREST", "").lower() in ("1", "true", "yes"):
        # WAL archived to a pgBackRest repository beside the data directory (backup = "pgbackrest").
        repo = configure_local_repository(base / "pgbackrest", base / "pgdata", port, "local")
        return LocalCluster(datadir=base / "pgdata", port=port, archive_command=repo.archive_command())
    return LocalCluster(datadir=base / "pgdata", port=port)
