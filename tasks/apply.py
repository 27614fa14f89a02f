"""The apply task: the whole file on an empty database, else the plan (db/run/plan_apply.py).

Prefect retries only failures a rerun can fix.
"""

from __future__ import annotations

from typing import Any

import psycopg
from prefect import task
from pydantic import SecretStr

from db.clip import clip
from db.connection.environments import get_environment, scratch_setting
from db.deploy.result import ApplyResult
from db.errors import ApplyInterrupted, ConnectionFailed
from db.plan.model import Plan
from db.run.plan_apply import apply_schema
from db.schema.master_file import read_schema
from tasks.reporting import artifact_key, change_rows, publish_table, run_logger

# Phrases of db.connection.connect's messages for a server that went away (a restart, a failover).
_TRANSIENT_CONNECTION = ("cannot reach", "no answer from", "lost the connection")


def is_transient(exc: BaseException) -> bool:
    """True for errors where the whole apply may simply be run again: a lost or refused connection.

    Lock timeouts are retried inside apply_master_schema already; a MigrationLocked must fail fast;
    a broken statement fails the same way every time; SIGTERM (ApplyInterrupted) means someone wants
    the run stopped, and a retry would start it again.
    """
    if isinstance(exc, ApplyInterrupted):
        return False
    if isinstance(exc, ConnectionFailed):
        return any(phrase in exc.message for phrase in _TRANSIENT_CONNECTION)
    return isinstance(exc, psycopg.OperationalError)


def record_lint_allowance(url: str, env: Any, history_id: int, rules: list[str]) -> None:
    """The lint rules a reviewer let this run through, on its history row (like its restore point)."""
    from db.connection.connect import connect
    from db.deploy.history import record_allowed_lint

    with connect(url, autocommit=True, connect_timeout=env.connect_timeout) as conn:
        record_allowed_lint(conn, history_id, [rule.upper() for rule in rules])


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: retry the apply task only after a transient failure."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False


@task(
    name="apply",
    task_run_name="apply-{environment}",
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=retry_if_transient,
)
def apply(
    url: str,
    environment: str,
    dry_run: bool = False,
    schema_file: str | None = None,
    allow_hazards: list[str] | None = None,
    restore_command: str | None = None,
    approved: Plan | None = None,
    scratch_url: SecretStr | None = None,
) -> ApplyResult:
    """Apply (or, with dry_run, plan) the master schema for `environment` and publish the change list.

    `allow_hazards` adds hazard kinds to the environment's allow_hazards for this run. Pending one-off
    migrations in the environment's migrations_dir run first (db/versions/), each recorded with
    `restore_command`, the backup taken before it. `approved`: the plan a person approved
    (tasks/approval.py); apply computes the plan again and runs only if it is that one.
    `scratch_url`: overrides the environment's scratch_url (db/catalog/scratch.py).
    """
    logger = run_logger()
    env = get_environment(environment)
    result = apply_schema(
        url,
        read_schema(schema_file),
        environment=environment,
        lock_timeout=env.lock_timeout,
        statement_timeout=env.statement_timeout,
        lock_retries=env.lock_retries,
        dry_run=dry_run,
        connect_timeout=env.connect_timeout,
        allow_hazards=[*env.allow_hazards, *(allow_hazards or [])],
        migrations_dir=env.migrations_dir,
        allow_out_of_order=env.allow_out_of_order,
        restore_command=restore_command,
        log=logger.info,
        approved=approved,
        scratch_url=scratch_setting(env, scratch_url),
    )
    verb = "would change" if dry_run else "changed"
    logger.info(
        "apply (%s) %s %d object(s) in %.2f s (%s mode, %d attempt(s)): %s",
        "whole file" if result.method == "file" else "planned steps",
        verb,
        result.objects_changed,
        result.seconds,
        result.mode,
        result.attempts,
        result.counts() or "none",
    )
    for notice in result.notices:
        if notice.startswith("squawk: "):
            logger.warning("lint of the plan's SQL, %s", notice)
        else:
            logger.info("server notice: %s", notice)
    for step in result.post_commit_steps:
        log = logger.warning if step.status == "failed" else logger.info
        log("post-commit %s: %s (%.2f s) %s", step.name, step.status, step.seconds, step.detail)
    for row in result.steps:
        logger.info("step %s %s: %s s, lock wait %s s: %s", row["step"], row["status"], row["seconds"],
                    row["lock wait (s)"], clip(row["sql"], 200))  # fmt: skip
    description = f"{'Planned' if dry_run else 'Applied'} schema changes for {environment}"
    if result.plan_checksum:  # the plan a person approved, or the one computed for this run
        description += f" (plan {result.plan_checksum})"
    publish_table(
        table=result.steps
        or change_rows(result)
        or [{"action": "none", "kind": "", "name": "no changes", "detail": ""}],
        key=artifact_key(environment, "changes"),
        description=description,
    )
    return result
