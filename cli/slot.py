"""`schemaflow slot show|free --env ENV`: who holds an environment's migrate slot, and the manual way out.

A slot whose holder provably died on this host is freed by the next migrate by itself (tasks/
concurrency.py). What no run can prove (a holder on another host, a lease a restarted server lost)
a person frees here, after checking and confirming; the confirmation is recorded in the
environment's migration history first, so the free is never silent. A live process on this host
is never freed.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from cli.console import out, print_json
from cli.prefect_server import prepare_prefect
from cli.target import add_target_arguments, confirmation_source, environment_target, warn_about
from db.connection.environments import get_environment
from db.errors import CheckFailed
from tasks.concurrency import active_slots, ensure_limit, free_slot, holders, limit_name, refuse_live_holders
from tasks.slot_records import HolderRecord

FREED_BY = "schemaflow slot free"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("slot", help="show or free the migrate slot (one migrate per environment)")
    parser.add_argument("action", choices=["show", "free"], help="show the holder, or free the slot")
    add_target_arguments(parser, env_required=True)
    parser.add_argument("--yes", action="store_true", help="free without asking (you checked the holder)")
    parser.add_argument("--json", action="store_true", help="print the slot's state as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    env = get_environment(args.env)
    prepare_prefect()  # the slot lives on `make ui`'s server when it runs, else in PREFECT_HOME
    ensure_limit(env.name)
    count, records = active_slots(env.name), holders(env.name)
    described = [_describe(r) for r in records]
    if args.json and args.action == "show":
        print_json({"limit": limit_name(env.name), "active_slots": count, "holders": described})
        return 0
    out(f"{limit_name(env.name)}: {count} of 1 slot taken")
    for line in described:
        out(f"  {line['holder']} ({line['status']}, {line['state']})")
    if count and not records:
        out("  no holder record here: a run on another host or with another PREFECT_HOME, or a lost lease")
    if args.action == "show":
        return 0
    if not count:
        out("nothing to free")
        return 0
    target = environment_target(env, args.database_url)
    warn_about(target)
    question = (
        f"Free {limit_name(env.name)}? Only if no migrate of {env.name!r} runs anywhere: two at once "
        "could both change the database."
    )
    confirmed_by = confirmation_source(args.yes, question)
    if not confirmed_by:
        raise CheckFailed(
            f"freeing the {limit_name(env.name)!r} slot needs confirmation; nothing was freed",
            hint=f"check the holder above is gone, then re-run `schemaflow slot free --env {env.name} --yes`",
        )
    refuse_live_holders(env.name, records)  # before anything is recorded; free_slot checks again
    history_id = _record(target.url, env.name, described, confirmed_by, env.connect_timeout)
    freed = free_slot(env.name)
    out(f"freed {freed} slot(s) of {limit_name(env.name)}; recorded as history run {history_id}")
    return 0


def _describe(record: HolderRecord) -> dict[str, str]:
    status = "alive" if record.alive else "dead"
    if not record.on_this_host:
        status = "on another host: unknown"
    return {"holder": record.describe(), "status": status, "state": record.state}


def _record(
    url: str, environment: str, holders: list[dict[str, str]], confirmed_by: str, timeout: int
) -> int:
    """Write the free into migration_history (as the failed run it ends) before anything is freed."""
    from db.connection.connect import connect
    from db.deploy.history import HistoryRecord, record_run

    now = datetime.now(UTC)
    who = "; ".join(h["holder"] + f" ({h['status']})" for h in holders) or "no holder record"
    record = HistoryRecord(
        environment=environment,
        checksum="",
        outcome="failed",
        started_at=now,
        finished_at=now,
        error_message=f"migrate slot freed by hand ({FREED_BY}, {confirmed_by}); its holder: {who}",
        approval_source=FREED_BY,
        approval_reason=confirmed_by,
    )
    with connect(url, autocommit=False, connect_timeout=timeout) as conn:
        history_id = record_run(conn, record)
        conn.commit()
    return history_id
