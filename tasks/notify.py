"""Make a failed run loud: a flow `on_failure` hook for the migrate, health and drift flows.

Prefect OSS has no mail or chat of its own, so a failure is made visible three ways a person (or an
automation) can pick up:
- an ERROR (CRITICAL for production) log line in the run's logs, carrying the actionable message;
- a markdown artifact keyed `<flow>-<environment>-failure` on the run, so the UI's Artifacts page keeps
  a history of failures per environment;
- an event `schemaflow.run.failed` with the environment as a label, which a Prefect automation can
  turn into a notification (see the README's "Deployments and the Prefect UI").

Use it as `@flow(..., on_failure=[notify_failure])`.
"""

from __future__ import annotations

import sys
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event
from prefect.logging.loggers import flow_run_logger

from db.connection.urls import mask_url
from tasks.reporting import artifact_key

FAILURE_EVENT = "schemaflow.run.failed"
LOUD_ENVIRONMENTS = frozenset({"production"})


def failure_artifact_key(flow_name: str, environment: str) -> str:
    """The artifact key for a flow's failures in one environment (lowercase, digits and dashes only)."""
    return artifact_key(environment, "failure", flow=flow_name)


def failure_message(state: Any) -> str:
    """The failed state's message with any URL or password masked; never empty."""
    message = (getattr(state, "message", None) or "").strip()
    return mask_url(message) if message else "the run failed without a message; see its logs"


def render_failure_markdown(flow_name: str, run_name: str, environment: str, message: str) -> str:
    """The failure artifact's text: what failed, the actionable message, and where to look next."""
    return "\n".join(
        [
            f"# FAILED: {flow_name} on {environment}",
            "",
            f"**Run:** `{run_name}`",
            "",
            "## What went wrong",
            "",
            "```",
            message,
            "```",
            "",
            "## What to do",
            "",
            "- Read the run's other artifacts (preflight table, backup, changes) and its logs.",
            "- Nothing is half-applied: the master schema is applied in one transaction.",
            "- Fix the cause, then trigger the deployment again.",
        ]
    )


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow on_failure hook: log loudly, attach a failure artifact, emit `schemaflow.run.failed`."""
    parameters = getattr(flow_run, "parameters", None) or {}
    environment = str(parameters.get("environment") or "unknown")
    message = failure_message(state)
    loud = environment in LOUD_ENVIRONMENTS or "production" in (getattr(flow_run, "tags", None) or [])
    logger = flow_run_logger(flow_run=flow_run, flow=flow)
    banner = f"{'!' * 12} {flow.name} FAILED on {environment.upper()} {'!' * 12}"
    logger.log(50 if loud else 40, "%s\n%s", banner, message)
    # The worker's own log (make ui's worker.log) shows it too, where no UI is open.
    print(f"schemaflow: {banner}: {message}", file=sys.stderr)
    try:
        create_markdown_artifact(
            render_failure_markdown(flow.name, flow_run.name, environment, message),
            key=failure_artifact_key(flow.name, environment),
            description=f"{flow.name} failed on {environment}",
        )
        emit_event(
            FAILURE_EVENT,
            resource={
                "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                "prefect.resource.name": flow_run.name,
                "schemaflow.environment": environment,
                "schemaflow.flow": flow.name,
            },
            payload={"message": message, "loud": loud},
        )
    except Exception as exc:  # a broken notification must not hide the original failure
        logger.error("could not record the failure artifact/event: %s", mask_url(str(exc)))
