"""At most one migrate run per environment at a time, through a Prefect global concurrency limit.

Why a global limit and not the deployment's `concurrency_limit`: Prefect releases a deployment's slot
when a run pauses (its state leaves RUNNING), so a second production run could start while the first
waits for approval, and both would then apply. The `migrate-<environment>` limit is held by the
run's own process from preflight to the end, through the pause, and also covers CLI runs sent to
the same server. The database's advisory lock (db/deploy/lock.py) stays the last line of defence.

A holder that dies without releasing (kill -9, the OOM killer) keeps the slot until its lease runs
out, and Prefect has no API that lists a limit's leases. So the holder writes a lease record under
PREFECT_HOME: its lease id, host, boot and process identity. A run refused the slot on the same host
reads it; when that process no longer exists, it releases the dead holder's lease by its id and
tries once more. A live holder, or one on another host, is never touched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from db.errors import CheckFailed

# How long a second run waits for the slot before it gives up, changing nothing.
SLOT_WAIT_SECONDS = 5.0
# The holder's process renews its lease every 3/4 of this; a holder that died (kill -9) keeps the
# slot until the lease runs out, unless a rerun on its host frees it (above). Prefect's default: a
# 60 s lease let a second production trigger in while the first waited for approval in a CI run.
LEASE_SECONDS = 300.0
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
LOGGER = logging.getLogger("schemaflow.concurrency")


def limit_name(environment: str) -> str:
    return f"migrate-{environment}"


def ensure_limit(environment: str) -> None:
    """Create the `migrate-<environment>` limit (1 slot) if the server does not have it yet.

    `make ui` creates the limits up front (scripts/prefect_objects.py); this covers environments added
    later and a temporary server. Two runs racing to create it both end up with the one limit.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(limit_name(environment))
            return
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=limit_name(environment), limit=1, active=True)
            )
        except ObjectAlreadyExists:
            return


@contextmanager
def migrate_slot(environment: str, wait_seconds: float = SLOT_WAIT_SECONDS) -> Iterator[None]:
    """Hold environment's one migrate slot for the block; CheckFailed when another run holds it."""
    ensure_limit(environment)
    with ExitStack() as stack:
        lease_id = _acquire(stack, environment, wait_seconds)
        if lease_id is False and _free_dead_holder(environment):
            lease_id = _acquire(stack, environment, wait_seconds)
        if lease_id is False:
            raise CheckFailed(
                f"another migrate run of {environment!r} is in progress (it holds the "
                f"{limit_name(environment)!r} concurrency limit){_holder_words(environment)}; "
                "nothing was changed",
                hint="wait for that run to finish (or cancel it in the Prefect UI), then trigger this "
                f"one again; a run whose process died frees it within {int(LEASE_SECONDS) // 60 + 1} "
                "min, or at once when rerun on its host",
            )
        if lease_id:
            record = _record_path(environment)
            with suppress(OSError):  # without a record a dead holder's lease simply runs out
                _write_record(record, str(lease_id))
                stack.callback(_remove_record, record, str(lease_id))
        yield


def _acquire(stack: ExitStack, environment: str, wait_seconds: float) -> Any:
    """The lease id of the slot taken (None when Prefect does not say it), or False when refused."""
    from prefect.concurrency.context import ConcurrencyContext
    from prefect.concurrency.sync import concurrency

    attempt = ExitStack()
    # Prefect records each granted lease id in the current ConcurrencyContext (to release it on
    # cancellation): a context of our own makes that id ours to write down.
    context = attempt.enter_context(ConcurrencyContext())
    try:
        # strict: a limit that vanished must stop the run, never let it proceed unguarded.
        attempt.enter_context(
            concurrency(
                limit_name(environment),
                occupy=1,
                timeout_seconds=wait_seconds,
                lease_duration=LEASE_SECONDS,
                strict=True,
            )
        )
    except TimeoutError:
        attempt.close()
        return False
    stack.enter_context(attempt.pop_all())  # released when the run's block ends
    return context.cleanup_lease_ids[-1] if context.cleanup_lease_ids else None


def _record_path(environment: str) -> Path:
    """One record per limit and Prefect server, under the one Prefect state folder."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    server = hashlib.sha256(str(PREFECT_API_URL.value() or "").encode()).hexdigest()[:12]
    return Path(PREFECT_HOME.value()) / "schemaflow-leases" / f"{limit_name(environment)}-{server}.json"


def _process_identity(pid: int) -> str | None:
    """Boot id, pid and start time: a pid reused after the holder died is another process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = BOOT_ID.read_text().strip()
    except OSError:
        return None
    started = stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces
    return f"{boot}:{pid}:{started}"


def _write_record(path: Path, lease_id: str) -> None:
    pid = os.getpid()
    record = {"lease_id": lease_id, "host": socket.gethostname(), "pid": pid,
              "process": _process_identity(pid)}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{pid}.tmp")
    temporary.write_text(json.dumps(record))
    temporary.replace(path)


def _read_record(environment: str) -> dict[str, Any] | None:
    try:
        record = json.loads(_record_path(environment).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _remove_record(path: Path, lease_id: str) -> None:
    with suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("lease_id") == lease_id:  # not a later holder's
            path.unlink()


def _holder_words(environment: str) -> str:
    record = _read_record(environment)
    if record and record.get("host") == socket.gethostname():
        return f", held by process {record.get('pid')} on this host"
    return ""


def _free_dead_holder(environment: str) -> bool:
    """Release the slot of a holder on this host whose process is gone; True when one was freed."""
    from prefect.client.orchestration import get_client

    record = _read_record(environment)
    if not record or record.get("host") != socket.gethostname() or not record.get("process"):
        return False
    if _process_identity(int(record.get("pid", 0))) == record["process"]:
        return False  # alive: it holds the slot rightfully
    with get_client(sync_client=True) as client:
        try:
            client.release_concurrency_slots_with_lease(record["lease_id"])
        except Exception as exc:  # an expired lease is gone already; say why, keep the refusal
            LOGGER.warning("could not free the lease of dead process %s: %s", record.get("pid"), exc)
            return False
    _remove_record(_record_path(environment), str(record["lease_id"]))
    LOGGER.warning(
        "freed the %s slot of migrate process %s, which died without releasing it",
        limit_name(environment),
        record.get("pid"),
    )
    return True
