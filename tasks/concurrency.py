"""At most one migrate run per environment at a time, through a Prefect global concurrency limit.

Why a global limit and not the deployment's `concurrency_limit`: Prefect releases a deployment's slot
when a run pauses (its state leaves RUNNING), so a second production run could start while the first
waits for approval, and both would then apply. The `migrate-<environment>` limit is held by the
run's own process from preflight to the end, through the pause, and also covers CLI runs sent to
the same server. The database's advisory lock (db/deploy/lock.py) stays the last line of defence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from db.errors import CheckFailed

# How long a second run waits for the slot before it gives up, changing nothing.
SLOT_WAIT_SECONDS = 5.0
# The holder's process renews its lease every 3/4 of this; a holder that died (kill -9) keeps the
# slot until the lease runs out. Prefect's default: a 60 s lease let a second production trigger in
# while the first waited for approval in a CI run, which is worse than a five-minute wait after a crash.
LEASE_SECONDS = 300.0


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
    from prefect.concurrency.sync import concurrency

    ensure_limit(environment)
    try:
        # strict: a limit that vanished must stop the run, never let it proceed unguarded.
        slot = concurrency(
            limit_name(environment),
            occupy=1,
            timeout_seconds=wait_seconds,
            lease_duration=LEASE_SECONDS,
            strict=True,
        )
        slot.__enter__()
    except TimeoutError:
        raise CheckFailed(
            f"another migrate run of {environment!r} is in progress (it holds the "
            f"{limit_name(environment)!r} concurrency limit); nothing was changed",
            hint="wait for that run to finish (or cancel it in the Prefect UI), then trigger this one "
            f"again; a run whose process died frees it within {int(LEASE_SECONDS) // 60 + 1} min",
        ) from None
    try:
        yield
    except BaseException as exc:
        if not slot.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        slot.__exit__(None, None, None)
