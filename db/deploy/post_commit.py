"""What metrics_daily needs after a deploy's commit: a first build when it is new, else nothing.

A continuous aggregate's first refresh cannot run in a transaction block, so it runs after the
commit, in autocommit; only for a metrics_daily that the run created, never on a no-op deploy.
"""

from __future__ import annotations

import time

import psycopg

from db.connection.urls import mask_url
from db.deploy.metrics import AGGREGATE_NAME, metrics_daily_refresh
from db.deploy.result import ApplyResult, PostCommitStep


def run_post_commit_steps(conn: psycopg.Connection, result: ApplyResult) -> list[PostCommitStep]:
    """Build a new metrics_daily after commit; an existing one is left to its own schedule."""
    steps = plan_post_commit_steps(conn, result)
    for step in steps:
        if step.status == "skipped":
            continue
        clock = time.monotonic()
        try:
            conn.execute(step.statement)  # type: ignore[arg-type]  # built from constants in metrics.py
            step.status = "ok"
        except psycopg.Error as exc:
            step.status = "failed"
            step.detail = mask_url(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        step.seconds = round(time.monotonic() - clock, 3)
    return steps


def plan_post_commit_steps(conn: psycopg.Connection, result: ApplyResult) -> list[PostCommitStep]:
    """What metrics_daily needs after this commit: a first build when it is new, else nothing.

    A deploy never refreshes the whole history: the table form is kept current inside its window by
    the refresh-metrics schedule, a continuous aggregate by its policy. The first build of the table
    is done by the master file itself (its DO block backfills in the same transaction), so only a
    planned apply, whose CREATE TABLE comes from the catalog and is empty, backfills after commit.
    """
    found = metrics_daily_refresh(conn)
    if found is None:
        return []
    kind, statement = found
    created = {c.kind for c in result.changes if c.action == "created" and _is_aggregate(c.name)}
    label = {"cagg": "continuous aggregate", "table": "table", "matview": "materialized view"}[kind]
    if kind == "cagg" and "cagg" in created:
        return [PostCommitStep("first refresh of continuous aggregate metrics_daily", statement)]
    if kind == "table" and "table" in created and result.method == "plan":
        return [PostCommitStep("first build (full backfill) of table metrics_daily", statement)]
    if kind == "matview" and "matview" in created:
        return [PostCommitStep("first refresh of materialized view metrics_daily", statement)]
    why = {
        "cagg": "its refresh policy keeps it current",
        "table": "built by the master file in the same transaction"
        if "table" in created
        else "refreshed inside its window by the refresh-metrics schedule",
        "matview": "not new; refresh it by hand: the master file turns it into a table",
    }[kind]
    return [PostCommitStep(f"refresh of {label} metrics_daily", statement, status="skipped", detail=why)]


def _is_aggregate(name: str) -> bool:
    return name.rsplit(".", 1)[-1] == AGGREGATE_NAME
