"""At most one migrate run per environment at a time, through a Prefect global concurrency limit.

Why a global limit and not the deployment's `concurrency_limit`: Prefect releases a deployment's slot
when a run pauses (its state leaves RUNNING), so a second production run could start while the first
waits for approval, and both would then apply. The `migrate-<environment>` limit is held by the
run's own process from preflight to the end, through the pause, and also covers CLI runs sent to
the same server. The database's advisory lock (db/deploy/lock.py) stays the last line of defence.

A holder that dies without releasing (kill -9, the OOM killer) leaves the limit's `active_slots` at 1.
On a real server its lease runs out and the server's repossessor frees it; a temporary server (the
CLI with no server) keeps leases in its own memory, dies with its holder and runs no repossessor, so
nothing ever would. Hence the holder records of tasks/slot_records.py, written before the slot is
asked for: a run refused the slot frees what provably dead holders on this host held, and names the
holders it cannot prove dead. A live holder, or one on another host, is never freed here; a person
can, after checking, with `schemaflow slot free` (free_slot below), which history records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from db.errors import CheckFailed
from tasks.slot_records import (
    HolderRecord,
    new_record,
    read_records,
    records_dir,
    records_lock,
    remove_record,
    unreadable_records,
    write_record,
)

# How long a second run waits for the slot before it gives up, changing nothing.
SLOT_WAIT_SECONDS = 5.0
# The holder's process renews its lease every 3/4 of this. Prefect's default: a 60 s lease let a
# second production trigger in while the first waited for approval in a CI run.
LEASE_SECONDS = 300.0
# The shortest lease Prefect's renew endpoint accepts.
MIN_LEASE_SECONDS = 60.0
# How often a real server's repossessor frees expired leases (Prefect's default loop_seconds).
REPOSSESSOR_SECONDS = 15
NO_RECORD = "its holder left no record here, twice asked: a run on another host or with another PREFECT_HOME"
LOGGER = logging.getLogger("schemaflow.concurrency")


def limit_name(environment: str) -> str:
    return f"migrate-{environment}"


def on_temporary_server() -> bool:
    """True when no PREFECT_API_URL is set: each process runs its own server on PREFECT_HOME's database."""
    from prefect.settings import PREFECT_API_URL

    return not PREFECT_API_URL.value()


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
    """Hold environment's one migrate slot for the block; CheckFailed naming the holder when refused."""
    ensure_limit(environment)
    with ExitStack() as stack:
        try:
            _take_recorded(stack, environment, wait_seconds)
        except OSError as exc:  # PREFECT_HOME not writable; raised before the slot is asked for
            if on_temporary_server():  # no record, no lease anyone renews: a kill would lock it out
                raise CheckFailed(
                    f"cannot record this migrate's hold of {limit_name(environment)!r} under "
                    f"PREFECT_HOME ({exc}); nothing was changed",
                    hint="make PREFECT_HOME writable, or run against a Prefect server (`make ui`)",
                ) from exc
            LOGGER.warning("no slot record (%s): if this run dies, its lease frees the slot", exc)
            if _acquire(stack, environment, wait_seconds) is False:
                raise CheckFailed(refusal(environment), hint=refusal_hint(environment)) from None
        yield


def _take_recorded(stack: ExitStack, environment: str, wait_seconds: float) -> None:
    """Take the slot onto stack, its holder recorded first; CheckFailed naming the holder if refused."""
    folder = records_dir(limit_name(environment))
    record = new_record(_current_flow_run_id())
    with records_lock(folder, timeout=wait_seconds * 2 + 30):
        # Written before asking: a process killed from here on is found by the next run.
        path = write_record(folder, record)
        stack.callback(remove_record, path)  # after the release below (LIFO): never an uncounted slot
        lease_id = _acquire(stack, environment, wait_seconds)
        if lease_id is False and reclaim_dead_holders(environment, own=path):
            lease_id = _acquire(stack, environment, wait_seconds)
        if lease_id is False and not _other_records(folder, own=path):
            # No holder to name: one elsewhere, or one that ended while we waited (its record goes
            # just after its slot). Asking once more turns the second case into a run, not a refusal.
            lease_id = _acquire(stack, environment, wait_seconds)
        if lease_id is False:
            raise CheckFailed(refusal(environment, own=path), hint=refusal_hint(environment))
        record.lease_id, record.state = (str(lease_id) if lease_id else None), "held"
        with suppress(OSError):  # the "asking" record still names this process
            write_record(folder, record)


def _other_records(folder: Path, own: Path) -> bool:
    records = read_records(folder)
    records.pop(own, None)
    return bool(records) or bool(unreadable_records(folder))


def _current_flow_run_id() -> str | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else None


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


def active_slots(environment: str) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return int(client.read_global_concurrency_limit_by_name(limit_name(environment)).active_slots)


def reclaim_dead_holders(environment: str, own: Path) -> bool:
    """Free what dead holders on this host held; True when a slot was freed. Call under records_lock.

    On a temporary server every holder of PREFECT_HOME's database runs on this host and, while the
    lock is held, has a record: slots beyond the live holders' are provably dead ones'. On a real
    server a dead holder's lease is released by its id; holders elsewhere are left to their lease.
    """
    folder = records_dir(limit_name(environment))
    records = read_records(folder)  # before the count: a holder leaving in between is never freed
    records.pop(own, None)  # this process's own: not granted
    dead = {path: r for path, r in records.items() if not r.alive}
    freed = 0
    if on_temporary_server():
        live = len(records) - len(dead) + unreadable_records(folder)
        excess = active_slots(environment) - live
        if excess > 0:
            _decrement(environment, excess)
            freed = excess
    else:
        for record in dead.values():
            if record.lease_id:
                freed += _release_lease(record.lease_id)
    for path, record in dead.items():
        _mark_crashed(record)
        remove_record(path)
        LOGGER.warning("freed the %s slot of %s, which died", limit_name(environment), record.describe())
    if freed and not dead:
        LOGGER.warning("freed %s %s slot(s) no live holder on this host had", freed, limit_name(environment))
    return bool(freed)


def _decrement(environment: str, slots: int) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.release_concurrency_slots([limit_name(environment)], slots, occupancy_seconds=1.0)


def _release_lease(lease_id: str) -> int:
    """1 when the server still had the lease (now released), 0 when it was gone already."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        try:
            # Renewing (for the shortest term Prefect takes) tells whether the server still has the
            # lease; releasing a gone one answers the same as releasing a live one.
            client.renew_concurrency_lease(UUID(lease_id), lease_duration=MIN_LEASE_SECONDS)
        except Exception as exc:  # gone (404) or unreadable: the slot stays, the refusal says why
            LOGGER.warning("the lease %s of a dead holder is gone from the server: %s", lease_id, exc)
            return 0
        client.release_concurrency_slots_with_lease(UUID(lease_id))
    return 1


def _mark_crashed(record: HolderRecord) -> None:
    """A dead holder's flow run still paused or running is marked Crashed, saying why."""
    if not record.flow_run_id:
        return
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(UUID(record.flow_run_id))
            if run.state is None or not run.state.is_final():
                message = f"its process ({record.describe()}) died holding the migrate slot"
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
        except Exception as exc:  # the slot is freed either way; say why the run's state is not
            LOGGER.warning("could not mark flow run %s crashed: %s", record.flow_run_id, exc)


def holders(environment: str) -> list[HolderRecord]:
    """The records of processes that asked for or hold the slot, live or not."""
    return list(read_records(records_dir(limit_name(environment))).values())


def refusal(environment: str, own: Path | None = None) -> str:
    """Why the slot was refused, naming every other recorded holder (under records_lock: all of them)."""
    records = read_records(records_dir(limit_name(environment)))
    if own:
        records.pop(own, None)
    who = "; ".join(
        ("" if r.on_this_host else "another host's ") + r.describe() + ("" if r.alive else " (dead)")
        for r in records.values()
    )
    holder = f"held by {who}" if who else NO_RECORD
    return (
        f"another migrate run of {environment!r} is in progress (it holds the {limit_name(environment)!r} "
        f"concurrency limit; {holder}); nothing was changed"
    )


def refusal_hint(environment: str) -> str:
    way_out = (
        f"if you know that holder is gone (a server restart loses its lease), `schemaflow slot show --env "
        f"{environment}` shows it and `schemaflow slot free --env {environment}` frees it"
    )
    if on_temporary_server():
        when = "a holder on this host that died is freed by the next run at once"
    else:
        minutes = (int(LEASE_SECONDS) + REPOSSESSOR_SECONDS + 59) // 60
        when = (
            "a holder on this host that died is freed by the next run at once, one elsewhere when its "
            f"lease runs out (within {minutes} min)"
        )
    return f"wait for that run to finish (or cancel it in the Prefect UI), then run again; {when}; {way_out}"


def refuse_live_holders(environment: str, records: list[HolderRecord]) -> None:
    """CheckFailed naming them when live processes on this host hold (or ask for) the slot."""
    live_here = [r for r in records if r.on_this_host and r.alive]
    if live_here:
        raise CheckFailed(
            f"the {limit_name(environment)!r} slot is held by a live process: "
            + "; ".join(r.describe() for r in live_here)
            + "; nothing was freed",
            hint="wait for that run to finish, or cancel it in the Prefect UI",
        )


def free_slot(environment: str) -> int:
    """Free the slot whoever holds it, except a live process on this host; the slots freed.

    For `schemaflow slot free` after a person confirmed it: the caller records that first.
    """
    folder = records_dir(limit_name(environment))
    with records_lock(folder, timeout=60):
        records = read_records(folder)
        refuse_live_holders(environment, list(records.values()))
        # By lease where one is known, so a real server's repossessor cannot free it a second time later.
        released = sum(_release_lease(r.lease_id) for r in records.values() if r.lease_id)
        count = active_slots(environment)
        if count > 0:
            _decrement(environment, count)
        for path, record in records.items():
            if not record.alive:
                _mark_crashed(record)
            remove_record(path)
        return released + count
