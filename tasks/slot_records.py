"""Who holds a `migrate-<env>` slot: one record per process, written before it asks for the slot.

Prefect stores a slot as a count (`active_slots` of the limit) plus a lease that only the server that
granted it knows; neither says which process holds it, and a temporary server's leases die with the
process that started it. So each process that asks for the slot first writes a record under
PREFECT_HOME (host, boot, pid and start time, its flow run), adds the lease id once granted and removes
the record when it lets go. All of this happens under one file lock per limit and server, so while a
process holds that lock, every other record of a live process is a granted slot, and a record of a
dead process is a slot that may still be counted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from db.errors import CheckFailed

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
LOCK_POLL_SECONDS = 0.1


@dataclass
class HolderRecord:
    """A process that asked for (state "asking") or holds (state "held") the slot."""

    host: str
    pid: int
    process: str | None  # boot id, pid and start ticks: a reused pid is another process
    started_at: str  # when it asked, UTC ISO: what a person compares with the run's logs
    flow_run_id: str | None = None
    lease_id: str | None = None
    state: str = "asking"
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # one process may ask twice

    @property
    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    @property
    def alive(self) -> bool:
        """True when this host's process with that identity still runs (another host's: unknown, so True)."""
        if not self.on_this_host or not self.process:
            return True
        return process_identity(self.pid) == self.process

    def describe(self) -> str:
        run = f", flow run {self.flow_run_id}" if self.flow_run_id else ""
        return f"process {self.pid} on host {self.host!r} since {self.started_at}{run}"


def process_identity(pid: int) -> str | None:
    """Boot id, pid and start time of a running process; None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = BOOT_ID.read_text().strip()
    except OSError:
        return None
    started = stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces
    return f"{boot}:{pid}:{started}"


def records_dir(limit: str) -> Path:
    """One folder per limit and Prefect server (a temporary server's: the same for every run)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    server = hashlib.sha256(str(PREFECT_API_URL.value() or "").encode()).hexdigest()[:12]
    # The environment first: the CLI points it at make ui's state after Prefect may have read its settings.
    home = os.environ.get("PREFECT_HOME") or str(PREFECT_HOME.value())
    return Path(home).expanduser() / "schemaflow-leases" / f"{limit}-{server}"


def new_record(flow_run_id: str | None) -> HolderRecord:
    pid = os.getpid()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return HolderRecord(socket.gethostname(), pid, process_identity(pid), now, flow_run_id)


def record_path(folder: Path, record: HolderRecord) -> Path:
    return folder / f"{record.host}-{record.pid}-{record.token}.json"


def write_record(folder: Path, record: HolderRecord) -> Path:
    """Write (or rewrite) record atomically; OSError when PREFECT_HOME is not writable."""
    path = record_path(folder, record)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(record)))
    temporary.replace(path)
    return path


def read_records(folder: Path) -> dict[Path, HolderRecord]:
    """Every readable record in folder; unreadable ones are skipped (never taken for a dead holder)."""
    found: dict[Path, HolderRecord] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with suppress(OSError, ValueError, TypeError):
            found[path] = HolderRecord(**json.loads(path.read_text()))
    return found


def unreadable_records(folder: Path) -> int:
    """How many record files cannot be read: their holders count as live (a slot is never freed for them)."""
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return len(files) - len(read_records(folder))


def remove_record(path: Path) -> None:
    with suppress(OSError):
        path.unlink()


@contextmanager
def records_lock(folder: Path, timeout: float) -> Iterator[None]:
    """Exclusive lock on the limit's records; the kernel drops it when its holder dies."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CheckFailed(
                        f"another migrate on this host kept the slot records in {folder} locked for "
                        f"{timeout:.0f} s; nothing was changed",
                        hint="wait for that migrate to take or be refused the slot, then run again",
                    ) from None
                time.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
